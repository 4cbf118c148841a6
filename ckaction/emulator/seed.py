"""Demo data: a support-reply prompt family with a baseline and a candidate that regresses once."""

from __future__ import annotations

from dataclasses import dataclass, field

from ckaction.emulator.judging import ScriptedJudge
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

    With `install_judge` (default) `emu.judge` becomes a `ScriptedJudge` that scores every
    LLM-judge metric 4 and evaluates checks, except that v2's row 2 scores 2 on "Accuracy": a
    run of v2 compared with the baseline regresses exactly one row on one metric by 2 points and
    leaves every other score (and every check) equal.
    """
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
    judge = ScriptedJudge({(v2["id"], regressed_row, "Accuracy"): 2}, default=4)
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
