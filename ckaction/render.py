"""Render a Report as Markdown for the job summary and the PR comment, from one jinja2 template.

Every untrusted string (row inputs, rationales, metric, prompt and run names, error messages) goes
through `ckaction.markdown.md_text` here; the template only places pre-rendered strings.

Size: GitHub caps a step's job summary at 1 MiB of UTF-8 and a comment at 65,536 characters, so the
output is fitted into a budget counted in UTF-8 bytes (never less than the character count, so it
holds for either cap). The fixed parts (headline, facts, counts, error, reasons, warnings, notes) are
bounded by per-field limits and at most MAX_LISTED items a list. The tables are filled by priority:
the metric table, the regressed rows (worst first), then the folded signed-off, improved, unchanged,
missing and unscored rows. A table takes whole rows while they fit; at the first that does not, it
and every later table stop, and each says how many rows were left out and where the full table is.
Rendering is linear in the rows and only escapes the lines that are kept; a last-resort cut keeps
the output under GitHub's hard limit whatever happens.

Output is a pure function of the report: no clock, no randomness, so an unchanged report renders
byte-identical (the sticky comment is only rewritten when something changed).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from ckaction import __version__
from ckaction.decide import Cell, MetricResult, RowResult, Severity, Tolerances
from ckaction.markdown import (
    fmt_delta,
    fmt_rate,
    fmt_score,
    fmt_tolerance,
    md_link,
    md_text,
    md_url,
)
from ckaction.report import Report, RunRef

if TYPE_CHECKING:
    import jinja2

COMMENT_LIMIT = 65_536
"""GitHub's cap on a comment body, in characters."""
SUMMARY_LIMIT = 1_048_576
"""GitHub's cap on one step's job summary, in bytes."""
COMMENT_BUDGET = 60_000
SUMMARY_BUDGET = 900_000
MAX_LISTED = 10
"""Reasons, warnings, notes and done sentences shown before an "… N more" line."""

_EMOJI = {"passed": "✅", "regressed": "❌", "error": "⚠️"}
_COMMANDS = {
    "gate": "Prompt gate",
    "publish": "Publish",
    "rebaseline": "Rebaseline",
    "calibrate": "Calibrate",
}
_COUNT_LABELS = {
    "compared": "Rows compared",
    "regressed": "Regressed",
    "improved": "Improved",
    "unchanged": "Unchanged",
    "missing": "Missing",
    "unscored": "Unscored",
    "new_cases": "New cases",
    "signed_off": "Signed off",
}
METRIC_HEADER = (
    "| Metric | Kind | Pairs | Baseline mean | New mean | Mean delta | 95% CI of delta "
    "| Tolerance | Verdict |\n|---|---|--:|--:|--:|--:|--:|---|---|"
)
ROW_HEADER = (
    "| Row | Input | Metric | Baseline | New | Delta | Judge's rationale (new) |\n"
    "|--:|---|---|--:|--:|--:|---|"
)
BRIEF_HEADER = "| Row | Input | Metric | Baseline | New | Delta |\n|--:|---|---|--:|--:|--:|"
SIGNED_HEADER = (
    "| Row | Input | Metric | Baseline | New | Delta | Signed off |\n|--:|---|---|--:|--:|--:|---|"
)
_RUN_ID = re.compile(r"/actions/runs/([0-9]+)")


@dataclass(frozen=True)
class Layout:
    """Where a rendering goes: its budget and hard limit (UTF-8 bytes), its text limits."""

    budget: int
    hard_limit: int
    see_also: str
    marker: str | None = None
    input_limit: int = 120
    rationale_limit: int = 240
    name_limit: int = 60


SUMMARY = Layout(
    budget=SUMMARY_BUDGET,
    hard_limit=SUMMARY_LIMIT,
    see_also="the full table is in the JSON report",
    input_limit=160,
    rationale_limit=400,
)
COMMENT = Layout(
    budget=COMMENT_BUDGET,
    hard_limit=COMMENT_LIMIT,
    see_also="the full table is in the job summary and the JSON report",
)


@dataclass
class Section:
    """A table whose rows are fitted into the budget; `omitted` rows were left out."""

    title: str
    header: str
    noun: str
    total: int
    lines: list[str] = field(default_factory=list)
    omitted: int = 0

    def __post_init__(self) -> None:
        self.omitted = self.total


def marker_for(comment_id: str | None) -> str:
    suffix = f":{md_marker_id(comment_id)}" if comment_id else ""
    return f"<!-- ckaction-report{suffix} -->"


def md_marker_id(comment_id: str) -> str:
    """The comment id as it may appear inside an HTML comment: ASCII letters, digits, `-_.`, and
    never `--` (which HTML comments cannot contain)."""
    kept = "".join(ch for ch in comment_id if ch.isascii() and (ch.isalnum() or ch in "-_."))
    return re.sub("-{2,}", "-", kept)[:64]


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("ckaction", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - Markdown, not HTML: untrusted values go through md_text
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def size(text: str) -> int:
    """What a rendering costs against its budget: UTF-8 bytes (never fewer than characters)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# -- cells -----------------------------------------------------------------------------------------


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


def _severity(cell: Cell) -> tuple[Severity, str]:
    return (cell.severity, cell.metric_name)


def _row_label(row: RowResult) -> str:
    return "—" if row.row_index is None else str(row.row_index)


class _Rows:
    """Table lines for rows (each metric name is escaped once, however many rows it has)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._names: dict[str, str] = {}

    def name(self, metric_name: str) -> str:
        text = self._names.get(metric_name)
        if text is None:
            text = md_text(metric_name, self.layout.name_limit) or "—"
            self._names[metric_name] = text
        return text

    def regressed(self, row: RowResult) -> list[str]:
        """One line per regressed metric of the row, worst first, with the judge's rationale."""
        lines = []
        text = md_text(row.input, self.layout.input_limit) or "—"
        for cell in sorted(row.regressed_cells, key=_severity):
            rationale = md_text(cell.rationale or "", self.layout.rationale_limit) or "—"
            accepted = " (signed off)" if cell.signed_off else ""
            lines.append(
                f"| {_row_label(row)} | {text} | {self.name(cell.metric_name)} | "
                f"{_score(cell, 'baseline')} | {_score(cell, 'new')} | **{_delta(cell)}**{accepted} "
                f"| {rationale} |"
            )
            text = "″"
        return lines

    def signed_off(self, row: RowResult) -> list[str]:
        """One line per regressed metric of the row, with the sign-off that accepted it."""
        lines = []
        text = md_text(row.input, self.layout.input_limit) or "—"
        for cell in sorted(row.regressed_cells, key=_severity):
            lines.append(
                f"| {_row_label(row)} | {text} | {self.name(cell.metric_name)} | "
                f"{_score(cell, 'baseline')} | {_score(cell, 'new')} | {_delta(cell)} | "
                f"{md_text(cell.signed_off or '', self.layout.rationale_limit) or '—'} |"
            )
            text = "″"
        return lines or self.every(row)

    def improved(self, row: RowResult) -> list[str]:
        return self.brief(row, lambda cell: cell.improved)

    def every(self, row: RowResult) -> list[str]:
        return self.brief(row, lambda cell: True)

    def brief(self, row: RowResult, pick: Callable[[Cell], bool]) -> list[str]:
        lines = []
        text = md_text(row.input, self.layout.input_limit) or "—"
        for cell in row.cells:
            if pick(cell):
                lines.append(
                    f"| {_row_label(row)} | {text} | {self.name(cell.metric_name)} | "
                    f"{_score(cell, 'baseline')} | {_score(cell, 'new')} | {_delta(cell)} |"
                )
                text = "″"
        if not lines:  # a row without a metric entry still shows up
            lines.append(f"| {_row_label(row)} | {text} | — | — | — | — |")
        return lines


def _interval(metric: MetricResult) -> str:
    if metric.interval is None:
        return "—"
    return f"{metric.interval.low:+.2f} to {metric.interval.high:+.2f}"


def _metric_line(metric: MetricResult, name: str, tolerances: Tolerances) -> str:
    drift = " (rubric changed)" if metric.version_changed else ""
    signed = f", {metric.signed_off_rows} signed off" if metric.signed_off_rows else ""
    if metric.kind == "check":
        verdict = f"❌ {metric.rows_regressed} broke" if metric.rows_regressed else "✅"
        return (
            f"| {name}{drift} | check | {metric.pairs} | {fmt_rate(metric.baseline_mean)} | "
            f"{fmt_rate(metric.new_mean)} | {metric.broke} broke, {metric.fixed} fixed | — | "
            f"no pass→fail | {verdict}{signed} |"
        )
    problems = []
    if metric.regressed:
        problems.append("mean below tolerance")
    if metric.rows_regressed:
        problems.append(f"{metric.rows_regressed} row(s) regressed")
    if metric.avg_signed_off:
        signed += ", mean drop signed off"
    verdict = ("❌ " + ", ".join(problems) if problems else "✅") + signed
    if metric.underpowered:
        verdict += " · ⚠️ underpowered"
    gated = metric.gated_mean_delta
    delta = fmt_delta(gated if gated is not None else metric.mean_delta)
    if metric.regressed:
        delta = f"**{delta}**"
    if gated is not None and metric.mean_delta is not None and gated != metric.mean_delta:
        delta += f" (all rows {fmt_delta(metric.mean_delta)})"
    tolerance = f"≥ {fmt_tolerance(metric.tolerance)}"
    if tolerances.avg_gate == "significant":
        tolerance += " or CI reaches 0"
    return (
        f"| {name}{drift} | LLM judge | {metric.pairs} | {fmt_score(metric.baseline_mean)} | "
        f"{fmt_score(metric.new_mean)} | {delta} | {_interval(metric)} | {tolerance} | {verdict} |"
    )


def _underpowered(report: Report) -> str:
    """A footnote under the metric table for metrics whose interval is too wide to judge."""
    metrics = report.evaluation.metrics if report.evaluation else ()
    weak = [m for m in metrics if m.kind != "check" and m.underpowered]
    if not weak:
        return ""
    names = ", ".join(md_text(m.name, 40) or "—" for m in weak[:5])
    more = f" and {len(weak) - 5} more" if len(weak) > 5 else ""
    return (
        f"⚠️ Underpowered: for {names}{more} the 95% interval of the mean delta is wider than the "
        f"average tolerance ({fmt_tolerance(report.tolerances.avg)}), so a drop that size cannot "
        "be told from judge noise. More rows narrow it; the `calibrate` command measures the noise."
    )


# -- the fixed parts -------------------------------------------------------------------------------


def _headline(report: Report) -> str:
    emoji = _EMOJI.get(report.result, "⚠️")
    command = _COMMANDS.get(report.command, md_text(report.command, 40))
    if report.result == "error":
        title = (md_text(report.error.title, 80) if report.error else "") or "error"
        return f"{emoji} {command} error: {title}"
    if report.command != "gate":
        return f"{emoji} {command}: done"
    if report.result == "passed":
        signed = report.counts.signed_off
        if signed:
            return f"{emoji} {command} passed: {signed} regressed row(s), all signed off"
        return f"{emoji} {command} passed: no regression"
    counts = report.counts
    drifted = [m for m in report.evaluation.metrics if m.regressed] if report.evaluation else []
    what = []
    if counts.regressed:
        what.append(f"{counts.regressed} row(s) regressed")
    if any(m.kind != "check" for m in drifted):
        names = [md_text(m.name, 40) or "—" for m in drifted if m.kind != "check"]
        more = f" and {len(names) - 2} more" if len(names) > 2 else ""
        what.append(f"average drift on {', '.join(names[:2])}{more}")
    return f"{emoji} {command} regressed: {'; '.join(what) or 'see below'}"


def _run(label: str, run: RunRef, layout: Layout) -> str:
    name = md_text(run.name or "", layout.name_limit)
    name = f" ({name})" if name else ""
    return f"**{label}** {md_link(f'run {run.id}', run.url)}{name}"


def _facts(report: Report, layout: Layout) -> list[str]:
    """The first screen under the headline: one line of runs, one of the configuration."""
    runs, setup = [], []
    rebaseline = report.command == "rebaseline"
    if report.facts.candidate:
        runs.append(
            _run("New baseline" if rebaseline else "Candidate", report.facts.candidate, layout)
        )
    if report.facts.baseline:
        runs.append(
            _run("Previous baseline" if rebaseline else "Baseline", report.facts.baseline, layout)
        )
    if report.facts.reused_run:
        runs.append("reused run (same commit and configuration)")
    if report.facts.prompt_id is not None:
        label = md_text(report.facts.prompt_label or "", 80)
        label = f"{label} " if label else ""
        setup.append(f"**Prompt** {label}(id {report.facts.prompt_id})")
    if (
        report.facts.baseline_prompt_id is not None
        and report.facts.baseline_prompt_id != report.facts.prompt_id
    ):
        setup.append(f"**Baseline prompt** id {report.facts.baseline_prompt_id}")
    if report.facts.dataset_id is not None:
        setup.append(f"**Dataset** id {report.facts.dataset_id}")
    judge = md_text(report.facts.judge_model or "", layout.name_limit)
    if judge:
        setup.append(f"**Judge** {judge}")
    if report.facts.avg_score is not None and rebaseline:
        setup.append(f"**Average score** {fmt_score(report.facts.avg_score)}")
    if report.command == "gate":
        tol = report.tolerances
        significant = " or its 95% CI reaches 0" if tol.avg_gate == "significant" else ""
        setup.append(
            f"**Tolerances** row delta ≥ {fmt_tolerance(tol.row)}, "
            f"mean delta ≥ {fmt_tolerance(tol.avg)}{significant}"
        )
    return [" · ".join(part) for part in (runs, setup) if part]


def _counts(report: Report) -> dict[str, list[str]] | None:
    """Every count the evaluation has, in its field order (a new field becomes a new column)."""
    if not report.evaluation or report.command != "gate":
        return None
    counts = report.counts
    names = [f.name for f in dataclasses.fields(counts)]
    return {
        "labels": [_COUNT_LABELS.get(n, n.replace("_", " ").capitalize()) for n in names],
        "cells": [str(getattr(counts, n)) for n in names],
    }


def _listed(items: Sequence[str], limit: int = 300) -> dict[str, Any]:
    return {
        "lines": [text for text in (md_text(item, limit) for item in items[:MAX_LISTED]) if text],
        "more": max(0, len(items) - MAX_LISTED),
    }


def _error_view(report: Report) -> dict[str, str] | None:
    if not report.error:
        return None
    return {
        "title": md_text(report.error.title, 100) or "Error",
        "message": md_text(report.error.message, 1500),
        "hint": md_text(report.error.hint, 1500),
    }


def _outputs(report: Report) -> list[str]:
    return [
        f"{md_text(name, 40)} = {md_text(value, 200) or '—'}"
        for name, value in list(report.facts.outputs.items())[:MAX_LISTED]
    ]


def _footer(report: Report) -> str:
    parts = [f"ckaction {__version__} {md_text(report.command, 20)}"]
    url = md_url(report.facts.workflow_run_url)
    if url:
        found = _RUN_ID.search(url)
        parts.append(md_link(f"workflow run {found.group(1)}" if found else "workflow run", url))
    return " · ".join(parts)


def rebaseline_command(report: Report) -> str:
    run = report.facts.baseline.id if report.facts.baseline else "<baseline-run-id>"
    return f"ckaction rebaseline --baseline-run-id {run}"


# -- fitting ---------------------------------------------------------------------------------------


def _fill(section: Section, items: Iterable[list[str]], remaining: list[int]) -> None:
    """Take whole items (rows) in order while they fit. At the first that does not, the section
    and every later (lower-priority) one stop: no mild row is shown while a worse one is left out."""
    header = size(section.header) + 32  # its newlines, and "… N more" instead of "N" below
    kept = 0
    for lines in items:
        cost = sum(size(line) + 1 for line in lines) + (header if not kept else 0)
        if cost > remaining[0]:
            remaining[0] = 0
            break
        remaining[0] -= cost
        section.lines.extend(lines)
        kept += 1
    section.omitted = section.total - kept


def render(report: Report, layout: Layout) -> str:
    """The report as Markdown within `layout.budget` UTF-8 bytes when its fixed parts allow, and
    always within `layout.hard_limit`."""
    evaluation = report.evaluation if report.command == "gate" else None
    rows_view = _Rows(layout)
    metrics = evaluation.metrics if evaluation else ()
    by_status: dict[str, list[RowResult]] = {}
    for row in evaluation.rows if evaluation else ():
        by_status.setdefault(row.status, []).append(row)
    regressed = evaluation.regressed_rows if evaluation else []

    metric_section = Section("Metrics", METRIC_HEADER, "metric(s)", len(metrics))
    regressed_section = Section(
        "Regressed rows, worst first", ROW_HEADER, "regressed row(s)", len(regressed)
    )
    RowLines = Callable[[RowResult], list[str]]
    plan: list[tuple[str, str, str, RowLines]] = [
        ("Signed-off regressions", "signed_off", SIGNED_HEADER, rows_view.signed_off),
        ("Improved rows", "improved", BRIEF_HEADER, rows_view.improved),
        ("Unchanged rows", "unchanged", BRIEF_HEADER, rows_view.every),
        ("Missing from the candidate run", "missing", BRIEF_HEADER, rows_view.every),
        ("Paired but not scored on the candidate run", "unscored", BRIEF_HEADER, rows_view.every),
    ]
    known = {"regressed", *(status for _, status, _, _ in plan)}
    plan += [  # a status this renderer does not know yet still shows its rows
        (f"Rows with status {md_text(status, 40)}", status, BRIEF_HEADER, rows_view.every)
        for status in by_status
        if status not in known
    ]
    folded = [
        (Section(title, header, "row(s)", len(by_status.get(status, []))), status, lines)
        for title, status, header, lines in plan
    ]
    context: dict[str, Any] = {
        "marker": layout.marker,
        "command": report.command,
        "headline": _headline(report),
        "facts": _facts(report, layout),
        "error": _error_view(report),
        "counts": _counts(report),
        "new_cases": evaluation.counts.new_cases if evaluation else 0,
        "reasons": _listed(report.reasons if report.command == "gate" else ()),
        "not_like_for_like": _listed(report.facts.not_like_for_like),
        "rebaseline_command": rebaseline_command(report),
        "notes": _listed(report.facts.notes),
        "signoffs_used": _listed(report.signoffs_used),
        "signoffs_ignored": _listed(
            [*report.facts.signoffs_expired, *report.facts.signoffs_rejected]
        ),
        "underpowered": _underpowered(report) if evaluation else "",
        "done": _listed(report.facts.done, 400),
        "outputs": _outputs(report),
        "metrics": metric_section,
        "regressed": regressed_section,
        "folded": [section for section, _, _ in folded],
        "see_also": layout.see_also,
        "footer": _footer(report),
    }
    template = _environment().get_template("report.md.j2")
    remaining = [layout.budget - size(template.render(**context))]

    _fill(
        metric_section,
        ([_metric_line(m, rows_view.name(m.name), report.tolerances)] for m in metrics),
        remaining,
    )
    _fill(regressed_section, (rows_view.regressed(row) for row in regressed), remaining)
    for section, status, lines in folded:
        _fill(section, map(lines, by_status.get(status, [])), remaining)
    return _within(template.render(**context), layout)


def _within(text: str, layout: Layout) -> str:
    """Last resort, unreachable with the per-field limits: cut at a line to fit the hard limit."""
    if size(text) <= layout.hard_limit:
        return text
    note = f"\n\n_… cut to fit GitHub's size limit; {layout.see_also}._\n"
    room = layout.hard_limit - size(note) - 1024
    cut = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    cut = cut[: cut.rfind("\n") + 1]
    return cut + "</details>\n" * (cut.count("<details>") - cut.count("</details>")) + note


def render_summary(report: Report) -> str:
    return render(report, SUMMARY)


def render_comment(report: Report, comment_id: str | None = None) -> str:
    """The sticky comment: `comment_id` names which one (a workflow may keep several on a PR)."""
    marker = marker_for(comment_id)
    body = render(report, dataclasses.replace(COMMENT, marker=marker))
    if not body.startswith(marker + "\n"):  # pragma: no cover - the template always writes it
        raise RuntimeError("rendered comment lost its marker")
    return body
