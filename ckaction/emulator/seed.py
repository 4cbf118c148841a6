"""Demo data: a support-reply prompt family with a baseline and a candidate that regresses once."""

from __future__ import annotations

from dataclasses import dataclass, field

from ckaction.emulator.judging import JsonDict, ScriptedJudge, Verdict, default_generator
from ckaction.emulator.state import Emulator

DEMO_JUDGE_MODEL = "gpt-4o-mini"
DEMO_ROWS: list[dict[str, str]] = [
    {
        "customer_message": "Where is my parcel? It was due on Monday.",
        "order_number": "10482",
        "expected_output": "Apologise, confirm order #10482 is in transit, give the new date.",
    },
    {
        "customer_message": "I was charged twice for the same order.",
        "order_number": "10517",
        "expected_output": "Confirm the duplicate charge on #10517 and that a refund is issued.",
    },
    {
        "customer_message": "Can I change the delivery address?",
        "order_number": "10533",
        "expected_output": "Explain the address of #10533 can change until it ships; give the link.",
    },
    {
        "customer_message": "The mug arrived broken.",
        "order_number": "10560",
        "expected_output": "Apologise, offer a replacement or refund for #10560, no return needed.",
    },
    {
        "customer_message": "How do I return shoes that do not fit?",
        "order_number": "10594",
        "expected_output": "Give the 30-day return steps for #10594 and the prepaid label.",
    },
    {
        "customer_message": "My discount code did not apply at checkout.",
        "order_number": "10611",
        "expected_output": "Apologise and refund the missing discount on #10611.",
    },
    {
        "customer_message": "Can I add an item to my order?",
        "order_number": "10625",
        "expected_output": "Explain #10625 can't be edited after payment; suggest a second order.",
    },
    {
        "customer_message": "The tracking link says 'label created' for a week.",
        "order_number": "10638",
        "expected_output": "Confirm #10638 is delayed at the carrier and open an investigation.",
    },
    {
        "customer_message": "I received someone else's package.",
        "order_number": "10652",
        "expected_output": "Apologise, send a prepaid return label for the wrong item on #10652.",
    },
    {
        "customer_message": "Please cancel my order, I ordered by mistake.",
        "order_number": "10667",
        "expected_output": "Confirm the cancellation of #10667 and the refund timeline.",
    },
]
TEMPLATE_V1 = (
    "You are a friendly support agent. The customer wrote about order #{{order_number}}: "
    "{{customer_message}} Reply helpfully and mention the order number."
)
TEMPLATE_V2 = (
    "You are a terse support agent. Order #{{order_number}}. Customer: {{customer_message}} "
    "Reply in one sentence."
)

# What the support model answers each ticket, by order number: (v1's friendly reply, v2's terse
# one). Row 2's terse reply is wrong (the address can change until the order ships): the row
# the demo's judge scores 2 on Accuracy shows a reviewer why.
DEMO_REPLIES: dict[str, tuple[str, str]] = {
    "10482": (
        "Hi! I'm sorry order #10482 is late. It is in transit and should arrive on Thursday.",
        "Order #10482 is in transit; new delivery date Thursday.",
    ),
    "10517": (
        "Hi! You were charged twice for order #10517; the duplicate charge is refunded.",
        "Duplicate charge on #10517 refunded.",
    ),
    "10533": (
        "Hi! Yes: the delivery address of order #10533 can change until it ships. Use the link "
        "in your confirmation email.",
        "Order #10533: the address cannot be changed.",
    ),
    "10560": (
        "Hi! I'm sorry the mug of order #10560 arrived broken. We can send a replacement or "
        "refund you; no need to return it.",
        "#10560: replacement or refund, no return needed.",
    ),
    "10594": (
        "Hi! You can return the shoes of order #10594 within 30 days with the prepaid label.",
        "#10594: return within 30 days with the prepaid label.",
    ),
    "10611": (
        "Hi! Sorry the discount did not apply to order #10611; we have refunded the difference.",
        "#10611: discount difference refunded.",
    ),
    "10625": (
        "Hi! Order #10625 cannot be edited after payment, but a second order ships just as fast.",
        "#10625 cannot be edited after payment; place a second order.",
    ),
    "10638": (
        "Hi! Order #10638 is delayed at the carrier; I have opened an investigation.",
        "#10638 delayed at the carrier; investigation opened.",
    ),
    "10652": (
        "Hi! Sorry about the mix-up on order #10652. Here is a prepaid label for the wrong item.",
        "#10652: prepaid return label sent for the wrong item.",
    ),
    "10667": (
        "Hi! Order #10667 is cancelled; the refund reaches you in 3 to 5 days.",
        "#10667 cancelled; refund in 3-5 days.",
    ),
}


def demo_generator(prompt: JsonDict, row: dict[str, str]) -> str:
    """The demo's support model: v1 and v2 answer each ticket with their reply in `DEMO_REPLIES`
    (friendly or terse); any other prompt's answer is its template rendered with the row."""
    replies = DEMO_REPLIES.get(row.get("order_number", ""))
    template = prompt.get("template")
    if replies is not None and template in (TEMPLATE_V1, TEMPLATE_V2):
        return replies[0] if template == TEMPLATE_V1 else replies[1]
    return default_generator(prompt, row)


@dataclass
class DemoIds:
    prompt_v1_id: int
    prompt_v2_id: int
    family_key: str
    dataset_id: int
    metric_ids: list[int]  # [Helpfulness, Accuracy, Mentions order number]
    baseline_run_id: int
    judge_model: str
    regressed_row_index: int = 2
    regressed_metric_id: int = 0
    regressed_metric_name: str = "Accuracy"
    judge: ScriptedJudge = field(default_factory=ScriptedJudge, repr=False)


def seed_demo(emu: Emulator, *, install_judge: bool = True) -> DemoIds:
    """Seed a prompt family (v1 current, v2 a draft candidate), a 10-row dataset, three metrics
    and a completed baseline run of v1.

    `emu.generator` becomes the demo's support model (`demo_generator`: each version's reply to
    each ticket, so a report's outputs read as a model's). With `install_judge` (default)
    `emu.judge` becomes a `ScriptedJudge` that scores every
    LLM-judge metric 4 and evaluates checks, except that v2's reply to order 10533 (row 2)
    scores 2 on "Accuracy", wherever that row sits: a run of v2 compared with the baseline
    regresses exactly one row on one metric by 2 points and leaves every other score (and every
    check) equal.
    """
    emu.generator = demo_generator
    helpfulness = emu.add_metric(
        "Helpfulness", "llm_judge", "Rate how well the reply resolves the customer's problem."
    )
    accuracy = emu.add_metric(
        "Accuracy", "llm_judge", "Rate how closely the reply matches the expected answer."
    )
    mentions = emu.add_metric(
        "Mentions order number",
        "check",
        check_config={"check_kind": "regex", "pattern": r"#\d{5}"},
    )
    dataset = emu.add_dataset("Support tickets", DEMO_ROWS)
    v1 = emu.add_prompt("Support reply", TEMPLATE_V1, "gpt-4o-mini", current=True)
    # v2 is built as a draft explicitly: the engine's PATCH publishes the new version it makes,
    # so no REST call can draft one; the demo gates v2 before anyone publishes it.
    v2 = emu.add_prompt(
        "Support reply", TEMPLATE_V2, "gpt-4o-mini", family_key=v1["family_key"], current=False
    )
    regressed_row = 2
    # Keyed by the ticket's order number, not its position: a confirm's re-run of the row scores
    # it the same, as a judge reading the reply would.
    regressed_order = DEMO_ROWS[regressed_row]["order_number"]
    wrong = Verdict(
        2,
        None,
        "Wrong: the address can change until the order ships, and the reply says it cannot.",
    )
    judge = ScriptedJudge({(v2["id"], regressed_order, "Accuracy"): wrong}, default=4)
    if install_judge:
        emu.judge = judge
    metric_ids = [helpfulness["id"], accuracy["id"], mentions["id"]]
    baseline = emu.add_completed_run(
        v1["id"], dataset["id"], metric_ids, judge_model=DEMO_JUDGE_MODEL, tag_names=("baseline",)
    )
    return DemoIds(
        prompt_v1_id=v1["id"],
        prompt_v2_id=v2["id"],
        family_key=v1["family_key"],
        dataset_id=dataset["id"],
        metric_ids=metric_ids,
        baseline_run_id=baseline["id"],
        judge_model=DEMO_JUDGE_MODEL,
        regressed_row_index=regressed_row,
        regressed_metric_id=accuracy["id"],
        regressed_metric_name="Accuracy",
        judge=judge,
    )
