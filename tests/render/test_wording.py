"""The wording fixes of issue 14, pinned as a snapshot of what changed: counts read as sentences
("1 row regressed", "3 rows regressed", never "row(s)"), and a not-like-for-like comparison after a
judge change is told to rebaseline with the new judge. Each sentence is taken from a real rendering
(summary and comment) for one and for three of a thing.

Update after an intended change with `pytest tests/render/test_wording.py --snapshot-update`."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from syrupy.assertion import SnapshotAssertion

from ckaction.decide import Tolerances
from ckaction.render import render_comment, render_summary
from ckaction.report import Report
from ckaction.signoff import LabelSignOff, SignOffs
from ckaction.wording import counted, plural
from tests.render.builders import SCENARIOS, gate_report, judge, row

LOOSE_AVG = Tolerances(row=Decimal("-1.0"), avg=Decimal("-5"))


def regressions(count: int, *, signed: bool = False) -> Report:
    rows = [row(i, judge(1, 5, 2)) for i in range(count)] + [row(count, judge(1, 4, 4))]
    label = SignOffs(label=LabelSignOff("prompt-regression-approved", "maria")) if signed else None
    return gate_report(*rows, tol=LOOSE_AVG, signoffs=label)


def new_cases(count: int) -> Report:
    extra = tuple(f"a new case {i}" for i in range(count))
    return gate_report(row(0, judge(1, 4, 4)), extra_inputs=extra)


def sentences(text: str) -> list[str]:
    """The lines of a rendering that carry a count or a hint, as a reader reads them."""
    wanted = re.compile(r"regressed|signed off|only in the candidate|rebaseline|left out")
    return [line for line in text.replace("\\", "").splitlines() if wanted.search(line)]


REPORTS = {
    "1 regressed row": lambda: regressions(1),
    "3 regressed rows": lambda: regressions(3),
    "1 signed-off row": lambda: regressions(1, signed=True),
    "3 signed-off rows": lambda: regressions(3, signed=True),
    "1 new case": lambda: new_cases(1),
    "3 new cases": lambda: new_cases(3),
    "a judge change": SCENARIOS["not_like_for_like"],
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_sentences_that_changed(name: str, snapshot: SnapshotAssertion) -> None:
    report = REPORTS[name]()
    summary, comment = sentences(render_summary(report)), sentences(render_comment(report))
    assert not [line for line in summary + comment if "(s)" in line]
    assert {"summary": summary, "comment": comment} == snapshot


@pytest.mark.parametrize(
    ("count", "noun", "many", "expected"),
    [
        (1, "row", None, "1 row"),
        (0, "row", None, "0 rows"),
        (3, "row", None, "3 rows"),
        (1, "case", None, "1 case"),
        (2, "differs", "differ", "2 differ"),
    ],
)
def test_counted_reads_as_a_sentence(
    count: int, noun: str, many: str | None, expected: str
) -> None:
    assert counted(count, noun, many) == expected
    assert plural(count, noun, many) == expected.split(" ", 1)[1]
