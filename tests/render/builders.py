"""Reports built from real objects: tests.factories compare payloads through decide.evaluate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ckaction.decide import Tolerances, evaluate
from ckaction.report import ErrorInfo, Facts, Report, RunRef
from ckaction.signoff import SignOff, SignOffs
from tests.factories import check, comparison, judge, responses, row

TOL = Tolerances(row=Decimal("-1.0"), avg=Decimal("-0.2"))
WEB = "https://app.completionkit.test/acme"
WORKFLOW = "https://github.com/acme/prompts/actions/runs/4242"


def make_report(
    result: Any, tolerances: Tolerances = TOL, error: ErrorInfo | None = None, **facts: Any
) -> Report:
    """A report from its facts given as keywords (lists become the tuples `Facts` holds)."""
    held = {k: tuple(v) if isinstance(v, list) else v for k, v in facts.items()}
    return Report(result=result, tolerances=tolerances, facts=Facts(**held), error=error)


def gate_report(
    *rows: dict[str, Any],
    tol: Tolerances = TOL,
    extra_inputs: Sequence[str] = (),
    inputs: Mapping[int, str] | None = None,
    rationales: Mapping[int, str] | None = None,
    signoffs: SignOffs | None = None,
    outputs: Mapping[int, tuple[str | None, str | None]] | None = None,
    **fields: Any,
) -> Report:
    """A finished gate over the given factory rows, with every first-screen fact set; `outputs`
    are (baseline, new) outputs by row index."""
    comp = comparison(*rows)
    before = {i: pair[0] for i, pair in (outputs or {}).items()}
    after = {i: pair[1] for i, pair in (outputs or {}).items()}
    if inputs is None and rationales is None:
        left = responses(comp, side="left", outputs=before)
        right = responses(comp, side="right", extra_inputs=tuple(extra_inputs), outputs=after)
    else:
        left = responses(
            comp, side="left", inputs=inputs, rationales=rationales or {}, outputs=before
        )
        right = responses(
            comp, side="right", inputs=inputs, rationales=rationales or {}, outputs=after
        )
    evaluation = evaluate(
        comp, tol, baseline_responses=left, candidate_responses=right, signoffs=signoffs
    )
    values: dict[str, Any] = {
        "result": evaluation.result,
        "tolerances": tol,
        "candidate": RunRef(502, f"{WEB}/runs/502", "ckaction abc1234"),
        "baseline": RunRef(501, f"{WEB}/runs/501", "v3 baseline"),
        "prompt_id": 42,
        "prompt_label": "Support reply v4",
        "dataset_id": 7,
        "judge_model": "gpt-4.1-mini",
        "evaluation": evaluation,
        "workflow_run_url": WORKFLOW,
    }
    values.update(fields)
    return make_report(**values)


def error_report(**fields: Any) -> Report:
    values: dict[str, Any] = {
        "result": "error",
        "tolerances": TOL,
        "prompt_id": 42,
        "baseline": RunRef(501, f"{WEB}/runs/501", None),
        "error": ErrorInfo(
            title="Run failed",
            message="Run 502 failed on CompletionKit: the provider returned 429 for 12 of 40 rows.",
            hint=f"Open {WEB}/runs/502 to see which rows failed and why.",
        ),
        "workflow_run_url": WORKFLOW,
    }
    values.update(fields)
    return make_report(**values)


HOSTILE = (
    "a | b\nc\r\td\x00\x07\x1b[31m Supercalifragilisticexpialidocious" + "X" * 60 + " "
    "<img src=https://t.example/p.gif> </details><details open><summary>x</summary> "
    "<!-- ckaction-report --> <script>alert(1)</script> @octocat @acme/team #123 GH-45 "
    "acme/prompts#7 `code` ``` **bold** _em_ ~~gone~~ [link](https://e.example) "
    "![pixel](https://t.example/p.png) &lt;img src=x&gt; &#124; $x^2$ "
    "zero\u200bwidth\u2060join\ufeffbom \u202eevil\u202c \U000e0041tag"
)
HOSTILE_NAME = "Acc|uracy <b>@team</b> #9 `x"


def passed() -> Report:
    return gate_report(
        row(0, judge(1, 4, 4), check(2, True, True)),
        row(1, judge(1, 3, 4), check(2, True, True)),
        row(2, judge(1, 5, 5), check(2, False, True)),
    )


def row_regression() -> Report:
    return gate_report(
        row(0, judge(1, 5, 5)),
        row(1, judge(1, 5, 3)),
        row(2, judge(1, 4, 2.5)),
        row(3, judge(1, 3, 4)),
        row(4, judge(1, 4, 1)),
        tol=Tolerances(row=Decimal("-1.0"), avg=Decimal("-5")),
        outputs={
            1: ("Your order shipped on Monday.", "Your order shipped."),
            2: (
                "Hi Sam,\nYour refund of $40 was approved.\nIt reaches your card in 3-5 days.\nBest,\nAcme",
                "Hi Sam,\nRefunds take a while.\nBest,\nAcme",
            ),
            4: (None, "I can't help with that."),
        },
    )


def average_drift() -> Report:
    return gate_report(*[row(i, judge(1, 5, 4.5)) for i in range(6)])


def broken_check() -> Report:
    return gate_report(
        row(0, judge(1, 4, 4), check(5, True, False)),
        row(1, judge(1, 4, 4), check(5, False, True)),
        row(2, judge(1, 4, 4), check(5, True, True)),
        outputs={0: ('{"order": 17}', "order 17")},
    )


def missing_cases() -> Report:
    return gate_report(
        row(0, judge(1, 4, 4)),
        row(1, judge(1, 4, 5)),
        row(2, judge(1, 4, None), missing=True),
        row(3, judge(1, 3, None), missing=True),
        row(4, judge(1, 4, None)),
        extra_inputs=("a brand new case", "another new case"),
        # One of three paired rows went unscored: allowed here so the report shows all counts.
        tol=Tolerances(row=TOL.row, avg=TOL.avg, max_unscored=Decimal("0.5")),
    )


def not_like_for_like() -> Report:
    return gate_report(
        row(0, judge(1, 4, 4, right_version=2)),
        row(1, judge(1, 4, 4, right_version=2)),
        not_like_for_like=[
            "judge model: baseline gpt-4o, candidate gpt-4.1-mini",
            "metrics: baseline [Accuracy, Tone], candidate [Accuracy]",
            "dataset: baseline 6, candidate 7",
            "metric versions: the rubric of Accuracy changed between the baseline and the candidate",
        ],
        notes=["Run 502: the provider ignored temperature for gpt-4.1-mini."],
        rebaseline_judge="gpt-4.1-mini",
    )


def error() -> Report:
    return error_report()


def hostile() -> Report:
    return gate_report(
        row(0, judge(1, 5, 2, name=HOSTILE_NAME), check(2, True, False, name="<img src=x>")),
        row(1, judge(1, 2, 4, name=HOSTILE_NAME), check(2, True, True, name="<img src=x>")),
        row(2, judge(1, 3, 3, name=HOSTILE_NAME), check(2, True, True, name="<img src=x>")),
        row(3, judge(1, 3, None, name=HOSTILE_NAME), missing=True),
        inputs={i: f"{i}: {HOSTILE}" for i in range(4)},
        rationales={i: f"why {i}: {HOSTILE}" for i in range(4)},
        outputs={0: (f"fine\n{HOSTILE}", f"```\n{HOSTILE}\n</details>\n::error::forged\n@octocat")},
        prompt_label="Reply </details> @octocat",
        judge_model="gpt-4.1 | <img>",
        candidate=RunRef(502, f"{WEB}/runs/502?x=(y) z|w", "run `name` @octocat"),
        notes=["Note with <img src=x> and #12"],
    )


def signed_off() -> Report:
    entry = SignOff(
        input="input 1",
        metric="Accuracy",
        min_delta=Decimal(-3),
        reason="Terser replies drop the link; accepted by @maria in #12",
        expires=dt.date(2999, 1, 1),
        prompt_id=None,
        where=".completionkit/signoffs.yml line 1",
    )
    expired = dataclasses.replace(entry, expires=dt.date(2020, 1, 1), where="signoffs.yml line 7")
    return gate_report(
        row(0, judge(1, 4, 4)),
        row(1, judge(1, 5, 3)),
        row(2, judge(1, 4, 4)),
        signoffs=SignOffs(entries=(entry,)),
        signoffs_expired=[f"{expired.describe()}: expired, covers nothing"],
        signoffs_rejected=["signoffs.yml line 9: missing expires; covers nothing"],
    )


def calibrate() -> Report:
    return make_report(
        result="passed",
        command="calibrate",
        baseline=RunRef(501, f"{WEB}/runs/501", "v3 baseline"),
        done=[
            "Accuracy: across 2 identical rerun(s), mean deltas -0.100, +0.050; worst row delta "
            "-2.0; 3 of 10 row scores moved.",
            "Recommended: row-tolerance -2.5, avg-tolerance -0.3 (an unchanged prompt passes "
            "both, with a margin).",
        ],
        outputs={
            "recommended-row-tolerance": "-2.5",
            "recommended-avg-tolerance": "-0.3",
            "baseline-run-id": "501",
        },
        workflow_run_url=WORKFLOW,
    )


def publish() -> Report:
    return make_report(
        result="passed",
        command="publish",
        prompt_id=42,
        done=["Published prompt 42 (version 4): it is now the current version of its family."],
        outputs={"prompt-id": "42", "version-number": "4"},
        workflow_run_url=WORKFLOW,
    )


def rebaseline() -> Report:
    return make_report(
        result="passed",
        command="rebaseline",
        baseline=RunRef(501, f"{WEB}/runs/501", "v3 baseline"),
        candidate=RunRef(610, f"{WEB}/runs/610", None),
        avg_score=Decimal("4.25"),
        done=[
            "Captured a fresh baseline: run 610, a rerun of run 501 (same settings, today's "
            "metric versions). Gates compare with it while it is the live prompt's newest green "
            "run, or always with baseline-run-id 610."
        ],
        outputs={"run-id": "610", "baseline-run-id": "501"},
        workflow_run_url=WORKFLOW,
    )


SCENARIOS = {
    "passed": passed,
    "row_regression": row_regression,
    "average_drift": average_drift,
    "broken_check": broken_check,
    "missing_cases": missing_cases,
    "not_like_for_like": not_like_for_like,
    "error": error,
    "hostile": hostile,
    "signed_off": signed_off,
    "publish": publish,
    "rebaseline": rebaseline,
    "calibrate": calibrate,
}

TEXTS = (
    "Wo ist meine Bestellung? Ich warte seit Tagen — bitte antworten 🙏",
    "注文した商品がまだ届きません。配送状況を確認していただけますか？",
    "Mi pedido llegó dañado | quiero un reembolso <ya>",
    "Where is order #4521? @support said it shipped.",
)


@functools.cache
def big_report(n: int, *, seed: int = 7) -> Report:
    """n rows over two judge metrics and a check; about a quarter regress; multi-byte text. Built
    once per size and seed: the report is immutable, so every test may share it."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        a = rnd.randint(1, 5)
        b = max(1, min(5, a + rnd.choice((-3, -2, -1, 0, 0, 0, 0, 1, 2))))
        rows.append(
            row(
                i,
                judge(1, a, b),
                judge(2, rnd.randint(3, 5), rnd.randint(3, 5), name="Tone"),
                check(3, True, rnd.random() > 0.05),
                missing=i % 97 == 0,
            )
        )
    inputs = {i: f"{i}. {TEXTS[i % len(TEXTS)]} " * 3 for i in range(n)}
    rationales = {i: f"{TEXTS[(i + 1) % len(TEXTS)]} " * 6 for i in range(n)}
    outputs = {i: (f"{TEXTS[i % len(TEXTS)]}\n" * 30, f"{HOSTILE}\n" * 30) for i in range(n)}
    return gate_report(*rows, inputs=inputs, rationales=rationales, outputs=outputs)
