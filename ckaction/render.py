"""Render a Report as Markdown for the job summary and the PR comment, from one jinja2 template.

Table rows are pre-rendered here (escaped by `ckaction.markdown`) and trimmed to a character budget:
the verdict, the metric table and the worst regressions always come first; what does not fit is
replaced by a line saying how many rows were left out and where the full table is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ckaction import __version__
from ckaction.decide import Cell, RowResult
from ckaction.markdown import fmt_delta, fmt_rate, fmt_score, md_text
from ckaction.report import Report

if TYPE_CHECKING:
    import jinja2

COMMENT_BUDGET = 60_000
SUMMARY_BUDGET = 900_000
INPUT_LIMIT = 120
RATIONALE_LIMIT = 240
_EMOJI = {"passed": "✅", "regressed": "❌", "error": "⚠️"}
ROW_HEADER = "| Row | Input | Metric | Baseline | New | Delta | Judge's rationale (new) |\n|--:|---|---|--:|--:|--:|---|"
BRIEF_HEADER = "| Row | Input | Metric | Baseline | New | Delta |\n|--:|---|---|--:|--:|--:|"


@dataclass
class Section:
    title: str
    header: str
    lines: list[str]
    total: int
    omitted: int


def marker_for(comment_id: str | None) -> str:
    suffix = f":{md_marker_id(comment_id)}" if comment_id else ""
    return f"<!-- ckaction-report{suffix} -->"


def md_marker_id(comment_id: str) -> str:
    return "".join(ch for ch in comment_id if ch.isalnum() or ch in "-_.")[:64]


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("ckaction", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - Markdown, not HTML: untrusted values go through md_text
        keep_trailing_newline=True,
    )


def _score(cell: Cell, side: str) -> str:
    if cell.is_check:
        passed = cell.baseline_passed if side == "baseline" else cell.new_passed
        return "—" if passed is None else ("pass" if passed else "fail")
    return fmt_score(cell.baseline if side == "baseline" else cell.new, 1)


def _delta(cell: Cell) -> str:
    if cell.is_check:
        if cell.change == "broke":
            return "pass→fail"
        if cell.change == "fixed":
            return "fail→pass"
        return "same" if cell.change == "same" else "—"
    return fmt_delta(cell.delta, 1)


def _row_label(row: RowResult) -> str:
    return "—" if row.row_index is None else str(row.row_index)


def regressed_lines(rows: Iterable[RowResult]) -> Iterable[str]:
    for row in rows:
        for cell in sorted(
            row.regressed_cells, key=lambda c: c.delta if c.delta is not None else -99
        ):
            yield (
                f"| {_row_label(row)} | {md_text(row.input, INPUT_LIMIT)} | "
                f"{md_text(cell.metric_name, 60)} | {_score(cell, 'baseline')} | "
                f"{_score(cell, 'new')} | **{_delta(cell)}** | "
                f"{md_text(cell.rationale or '', RATIONALE_LIMIT) or '—'} |"
            )


def brief_lines(rows: Iterable[RowResult], pick: Callable[[Cell], bool]) -> Iterable[str]:
    for row in rows:
        for cell in row.cells:
            if pick(cell):
                yield (
                    f"| {_row_label(row)} | {md_text(row.input, INPUT_LIMIT)} | "
                    f"{md_text(cell.metric_name, 60)} | {_score(cell, 'baseline')} | "
                    f"{_score(cell, 'new')} | {_delta(cell)} |"
                )


def _fill(lines: Iterable[str], total: int, budget: list[int]) -> tuple[list[str], int]:
    kept: list[str] = []
    for line in lines:
        cost = len(line) + 1
        if cost > budget[0]:
            break
        budget[0] -= cost
        kept.append(line)
    return kept, max(0, total - len(kept))


def _metric_lines(report: Report) -> list[str]:
    if not report.evaluation:
        return []
    lines = []
    for m in report.evaluation.metrics:
        if m.kind == "check":
            verdict = f"❌ {m.broke} broke" if m.regressed else "✅"
            lines.append(
                f"| {md_text(m.name, 60)} | check | {m.pairs} | {fmt_rate(m.baseline_mean)} | "
                f"{fmt_rate(m.new_mean)} | {m.broke} broke, {m.fixed} fixed | no pass→fail | {verdict} |"
            )
            continue
        if m.regressed:
            verdict = "❌ mean below tolerance"
        elif m.rows_regressed:
            verdict = f"⚠️ {m.rows_regressed} row(s) regressed"
        else:
            verdict = "✅"
        lines.append(
            f"| {md_text(m.name, 60)} | LLM judge | {m.pairs} | {fmt_score(m.baseline_mean)} | "
            f"{fmt_score(m.new_mean)} | **{fmt_delta(m.mean_delta)}** | < {m.tolerance} | {verdict} |"
        )
    return lines


def _headline(report: Report) -> str:
    emoji = _EMOJI[report.result]
    counts = report.counts
    if report.result == "passed":
        return f"{emoji} Prompt gate passed: no regression"
    if report.result == "regressed":
        what = f"{counts.regressed} row(s) regressed" if counts.regressed else "average drift"
        return f"{emoji} Prompt gate: regressed ({what})"
    title = report.error.title if report.error else "error"
    return f"{emoji} Prompt gate error: {md_text(title, 80)}"


def _facts(report: Report) -> str:
    parts = []
    if report.candidate:
        parts.append(f"**Candidate** [run {report.candidate.id}]({report.candidate.url})")
    if report.baseline:
        parts.append(f"**Baseline** [run {report.baseline.id}]({report.baseline.url})")
    if report.prompt_id is not None:
        label = f"{md_text(report.prompt_label, 80)} " if report.prompt_label else ""
        parts.append(f"**Prompt** {label}(id {report.prompt_id})")
    if report.dataset_id is not None:
        parts.append(f"**Dataset** {report.dataset_id}")
    if report.judge_model:
        parts.append(f"**Judge** `{md_text(report.judge_model, 60)}`")
    tol = report.tolerances
    parts.append(f"**Tolerances** row < {tol.row}, mean < {tol.avg}")
    if report.reused_run:
        parts.append("reused run (same commit and configuration)")
    return " · ".join(parts)


def _counts_table(report: Report) -> str:
    if not report.evaluation:
        return ""
    c = report.counts
    return (
        "| Compared | Regressed | Improved | Unchanged | Missing | Unscored | New cases |\n"
        "|--:|--:|--:|--:|--:|--:|--:|\n"
        f"| {c.compared} | {c.regressed} | {c.improved} | {c.unchanged} | {c.missing} | "
        f"{c.unscored} | {c.new_cases} |"
    )


def _footer(report: Report) -> str:
    parts = [f"ckaction {__version__}"]
    if report.workflow_run_url:
        parts.append(f"[workflow run]({report.workflow_run_url})")
    return " · ".join(parts)


def render(report: Report, *, budget: int, marker: str | None = None, see_also: str) -> str:
    """The report as Markdown within `budget` characters (the fixed parts always stay)."""
    evaluation = report.evaluation
    rows: Sequence[RowResult] = evaluation.rows if evaluation else ()
    context: dict[str, Any] = {
        "marker": marker,
        "headline": _headline(report),
        "facts": _facts(report),
        "error": _error_view(report),
        "counts_table": _counts_table(report),
        "reasons": [md_text(reason, 300) for reason in report.reasons],
        "not_like_for_like": [md_text(item, 300) for item in report.not_like_for_like],
        "rebaseline_command": rebaseline_command(report),
        "notes": [md_text(note, 300) for note in report.notes],
        "metric_lines": _metric_lines(report),
        "row_header": ROW_HEADER,
        "see_also": see_also,
        "footer": _footer(report),
        "regressed": Section("", ROW_HEADER, [], 0, 0),
        "folded": [],
    }
    template = _environment().get_template("report.md.j2")
    fixed = len(template.render(**context)) + 400
    remaining = [max(0, budget - fixed)]
    regressed_rows = evaluation.regressed_rows if evaluation else []
    regressed_total = sum(len(r.regressed_cells) for r in regressed_rows)
    lines, omitted = _fill(regressed_lines(regressed_rows), regressed_total, remaining)
    context["regressed"] = Section("Regressed", ROW_HEADER, lines, regressed_total, omitted)
    folded = []
    for title, status, pick in (
        ("Improved rows", "improved", lambda c: c.improved),
        ("Unchanged rows", "unchanged", lambda c: True),
        ("Missing from the candidate run", "missing", lambda c: True),
        ("Paired but not scored on the candidate run", "unscored", lambda c: True),
    ):
        picked = [row for row in rows if row.status == status]
        total = sum(1 for row in picked for cell in row.cells if pick(cell))
        lines, omitted = _fill(brief_lines(picked, pick), total, remaining)
        folded.append(Section(title, BRIEF_HEADER, lines, total, omitted))
    context["folded"] = folded
    return template.render(**context)


def _error_view(report: Report) -> dict[str, str] | None:
    if not report.error:
        return None
    return {
        "title": md_text(report.error.title, 100),
        "message": md_text(report.error.message, 1500),
        "hint": md_text(report.error.hint, 1500),
    }


def rebaseline_command(report: Report) -> str:
    run = report.baseline.id if report.baseline else "<baseline-run-id>"
    return f"ckaction rebaseline --baseline-run-id {run}"


def render_summary(report: Report) -> str:
    return render(report, budget=SUMMARY_BUDGET, see_also="the full table is in the JSON report")


def render_comment(report: Report) -> str:
    marker = marker_for(report.comment_id)
    body = render(
        report,
        budget=COMMENT_BUDGET,
        marker=marker,
        see_also="the full table is in the job summary and the JSON report",
    )
    if marker not in body:  # pragma: no cover - the template always writes it
        raise RuntimeError("rendered comment lost its marker")
    return body
