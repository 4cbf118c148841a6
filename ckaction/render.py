"""Render a Report as Markdown for the job summary and the PR comment, from one jinja2 template.

The template (`templates/report.md.j2`) owns the layout. This module gives it the filters it calls
(every untrusted string, from row inputs to error messages, goes through `md`, which escapes it with
`ckaction.markdown.md_text` and cuts it to a length) and fits the tables into a size budget.

Size: GitHub caps a step's job summary at 1 MiB of UTF-8 and a comment at 65,536 characters, so the
output is fitted into a budget counted in UTF-8 bytes (never less than the character count, so it
holds for either cap). The fixed parts (headline, facts, counts, error, reasons, warnings, notes) are
bounded by per-field limits and at most MAX_LISTED items a list. The tables are filled by priority:
the metric table, what the model said on the few worst regressed rows (a folded line diff of the two
outputs each, cut to a number of lines), the regressed rows (worst first), then the folded
signed-off, improved, unchanged, missing and unscored rows. A table takes whole rows while they fit; at the first that does not, it
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
from decimal import Decimal
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from ckaction import __version__
from ckaction.decide import Cell, RowResult
from ckaction.markdown import (
    fmt_delta,
    fmt_rate,
    fmt_score,
    fmt_tolerance,
    md_link,
    md_sentence,
    md_text,
    md_url,
)
from ckaction.outputdiff import OutputDiff, output_diff
from ckaction.report import FileOutcome, Report
from ckaction.stats import Interval
from ckaction.wording import counted, plural

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
LISTED_CHARS = 300
"""Each listed sentence is cut to this many characters."""
HEADER_SLACK = 32
"""What a table costs beyond its header: its newlines, and "… N more" instead of "N" below it."""
HARD_CUT_MARGIN = 1024
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
    output_lines: int = 10  # a regressed row's output diff: at most this many lines…
    output_line_limit: int = 160  # …of at most this many characters each
    outputs_shown: int = 5  # the regressed rows (worst first) whose outputs are shown
    nested: bool = False  # one prompt file's report inside a step's: a smaller heading, no footer


SUMMARY = Layout(
    budget=SUMMARY_BUDGET,
    hard_limit=SUMMARY_LIMIT,
    see_also="the full table is in the JSON report",
    input_limit=160,
    rationale_limit=400,
    output_lines=20,
    output_line_limit=300,
    outputs_shown=20,
)
COMMENT = Layout(
    budget=COMMENT_BUDGET,
    hard_limit=COMMENT_LIMIT,
    see_also="the full table is in the job summary and the JSON report",
)


@dataclass
class Section:
    """A table whose rows are fitted into the budget: `noun` names one of its items, `row_macro`
    is the template's macro for one of its items, `header_name` the template's name of its header; `lines` are the rows kept under
    that `header`, and `omitted` items were left out."""

    status: str
    noun: str
    row_macro: str
    header_name: str
    items: Sequence[Any]
    header: str = ""
    lines: list[str] = field(default_factory=list)
    omitted: int = 0

    def __post_init__(self) -> None:
        self.omitted = self.total  # until fitted: the page's fixed cost counts the "left out" line

    @property
    def total(self) -> int:
        return len(self.items)


CONFIRM_STATUSES = ("confirmed", "flaky", "unassessable")
"""Row statuses a confirm (`confirm-runs`) gives: its own table lists them (the failing ones are
among the regressed rows too)."""
FOLDED = (  # status, the macro that renders one row, its table's header: in priority order
    ("signed_off", "signed_off_row", "SIGNED_HEADER"),
    ("improved", "improved_row", "BRIEF_HEADER"),
    ("unchanged", "brief_row", "BRIEF_HEADER"),
    ("missing", "brief_row", "BRIEF_HEADER"),
    ("unscored", "brief_row", "BRIEF_HEADER"),
)


def marker_for(comment_id: str | None) -> str:
    suffix = f":{md_marker_id(comment_id)}" if comment_id else ""
    return f"<!-- ckaction-report{suffix} -->"


def md_marker_id(comment_id: str) -> str:
    """The comment id as it may appear inside an HTML comment: ASCII letters, digits, `-_.`, and
    never `--` (which HTML comments cannot contain)."""
    kept = "".join(ch for ch in comment_id if ch.isascii() and (ch.isalnum() or ch in "-_."))
    return re.sub("-{2,}", "-", kept)[:64]


def size(text: str) -> int:
    """What a rendering costs against its budget: UTF-8 bytes (never fewer than characters)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# -- the filters the template calls ----------------------------------------------------------------


@lru_cache(maxsize=256)
def md_name(name: str, limit: int) -> str:
    """A metric name as Markdown (escaped once however many rows it has), or a dash."""
    return md_text(name, limit) or "—"


def side(cell: Cell, which: str) -> str:
    """One side's score of a cell: pass/fail for a check, the score otherwise."""
    if cell.is_check:
        passed = cell.baseline_passed if which == "baseline" else cell.new_passed
        return "—" if passed is None else ("pass" if passed else "fail")
    return fmt_score(cell.baseline if which == "baseline" else cell.new, 1)


def change(cell: Cell) -> str:
    """A cell's change: the check's transition, or the delta."""
    if cell.is_check:
        if cell.change == "broke":
            return "pass→fail"
        if cell.change == "fixed":
            return "fail→pass"
        return "same" if cell.change == "same" else "—"
    return fmt_delta(cell.delta, 1)


def worst_first(cells: Iterable[Cell]) -> list[Cell]:
    return sorted(cells, key=lambda cell: (cell.severity, cell.metric_name))


def row_label(row: RowResult) -> str:
    return "—" if row.row_index is None else str(row.row_index)


def scores(values: Sequence[Decimal]) -> str:
    """A confirm's scores of one side, in run order."""
    return ", ".join(fmt_score(value, 0) for value in values) or "—"


DIFF_SIGNS = {
    "same": "·",
    "removed": "−",
    "added": "+",
    "skipped": "…",
    "baseline": "baseline",
    "new": "new",
}
"""The first column of an output diff's table, by line kind."""


def outputs(row: RowResult, layout: Layout) -> OutputDiff:
    """A regressed row's outputs as the layout shows them: a line diff cut to its lines."""
    return output_diff(row.baseline_output, row.candidate_output, layout.output_lines)


def diff_line(sign: str, text: str, layout: Layout) -> str:
    """One line of an output diff as a table row, its text escaped as a row's input is."""
    shown = md_text(text, layout.output_line_limit) or "—"
    return f"| {sign} | {shown} |"


_PLAIN_COMMAND = re.compile(r"[A-Za-z0-9 ._:/=<>+-]{1,300}")


def command(text: str) -> str:
    """A command to copy: a code span when it holds only plain characters, else escaped text."""
    return f"`{text}`" if _PLAIN_COMMAND.fullmatch(text) else md_text(text, 300)


def interval(value: Interval | None) -> str:
    return "—" if value is None else f"{value.low:+.2f} to {value.high:+.2f}"


def listed(items: Sequence[str], limit: int = LISTED_CHARS) -> dict[str, Any]:
    """The first MAX_LISTED sentences as Markdown (a `quoted` name a code span), and how many
    more there are."""
    return {
        "lines": [
            text for text in (md_sentence(item, limit) for item in items[:MAX_LISTED]) if text
        ],
        "more": max(0, len(items) - MAX_LISTED),
    }


def fields(value: Any) -> list[tuple[str, Any]]:
    """A dataclass's fields and values, in their order (a new count becomes a new column)."""
    return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]


def workflow_link(url: str | None) -> str:
    """A link to the workflow run, named by its id; empty when the URL is not usable."""
    safe = md_url(url)
    if not safe:
        return ""
    found = _RUN_ID.search(safe)
    return md_link(f"workflow run {found.group(1)}" if found else "workflow run", safe)


FILTERS: dict[str, Callable[..., Any]] = {
    "md": md_text,
    "sentence": md_sentence,
    "md_name": md_name,
    "link": md_link,
    "score": fmt_score,
    "delta": fmt_delta,
    "rate": fmt_rate,
    "tolerance": fmt_tolerance,
    "side": side,
    "change": change,
    "worst_first": worst_first,
    "label": row_label,
    "interval": interval,
    "scores": scores,
    "listed": listed,
    "fields": fields,
    "workflow_link": workflow_link,
    "outputs": outputs,
    "counted": counted,
    "command": command,
    "plural": plural,
}


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ckaction", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - Markdown, not HTML: untrusted values go through `md`
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    environment.filters.update(FILTERS)
    environment.globals.update(
        version=__version__,
        MAX_LISTED=MAX_LISTED,
        LISTED_CHARS=LISTED_CHARS,
        DIFF_SIGNS=DIFF_SIGNS,
        diff_line=diff_line,
    )
    return environment


# -- fitting ---------------------------------------------------------------------------------------


def _fill(section: Section, page: Any, remaining: list[int]) -> None:
    """Take whole items (rows) in order while they fit, rendered by the page's row macro. At the
    first that does not, the section and every later (lower-priority) one stop: no mild row is
    shown while a worse one is left out."""
    section.header = getattr(page, section.header_name)
    lines_of: Callable[[Any], str] = getattr(page, section.row_macro)
    header_cost = size(section.header) + HEADER_SLACK
    kept = 0
    for item in section.items:
        lines = _shown(lines_of, item)
        cost = sum(size(line) + 1 for line in lines) + (header_cost if not kept else 0)
        if cost > remaining[0]:
            remaining[0] = 0
            break
        remaining[0] -= cost
        section.lines.extend(lines)
        kept += 1
    section.omitted = section.total - kept


def _shown(lines_of: Callable[[Any], str], item: Any) -> list[str]:
    """One item's table lines, or, when this one item cannot be rendered or written as UTF-8 (a
    lone surrogate, text nested too deep to escape, …), a line that says so: one bad row never
    fails the whole report. (A GitHub table fills the cells a line leaves out.)"""
    try:
        lines = lines_of(item).splitlines()
        for line in lines:
            line.encode("utf-8")
    except Exception as exc:  # isolation is the point: whatever fails, it fails one row
        what = f"row {row_label(item)}" if isinstance(item, RowResult) else "this line"
        return [f"| {what} | _could not be shown ({type(exc).__name__}); see the JSON report_ |"]
    return lines


def _sections(report: Report, layout: Layout) -> dict[str, Any]:
    """The report's tables in priority order, empty: the metric table, the regressed rows, what
    the model said on the worst of them (`layout.outputs_shown`), then the folded ones (a status this renderer does not know yet still shows its rows, last)."""
    evaluation = report.evaluation if report.command == "gate" else None
    by_status: dict[str, list[RowResult]] = {}
    for row in evaluation.rows if evaluation else ():
        by_status.setdefault(row.status, []).append(row)
    known = {"regressed", *CONFIRM_STATUSES, *(status for status, _, _ in FOLDED)}
    regressed = evaluation.regressed_rows if evaluation else []
    said = [row for row in regressed if row.has_outputs][: layout.outputs_shown]
    unknown = [(status, "brief_row", "BRIEF_HEADER") for status in by_status if status not in known]
    return {
        "metrics": Section(
            "metrics", "metric", "metric_row", "METRIC_HEADER",
            evaluation.metrics if evaluation else (),
        ),
        "regressed": Section(
            "regressed", "regressed row", "regressed_row", "ROW_HEADER",
            regressed,
        ),
        "outputs": Section("outputs", "output", "output_block", "OUTPUT_HEADER", said),
        "confirm": Section(
            "confirm", "re-tested row", "confirm_row", "CONFIRM_HEADER",
            [row for row in evaluation.rows if row.confirmation] if evaluation else (),
        ),
        "folded": [
            Section(status, "row", row, header, by_status.get(status, []))
            for status, row, header in (*FOLDED, *unknown)
        ],
    }  # fmt: skip


def render(report: Report, layout: Layout) -> str:
    """The report as Markdown within `layout.budget` UTF-8 bytes when its fixed parts allow, and
    always within `layout.hard_limit`."""
    if report.facts.files:
        return _render_files(report, layout)
    template = _environment().get_template("report.md.j2")
    sections = _sections(report, layout)
    context = {"report": report, "layout": layout, "sections": sections}
    # The page with its tables still empty: what the fixed parts cost, and the row macros.
    page = template.make_module(context)
    remaining = [layout.budget - size(str(page))]
    # What the model said on the worst rows is filled before their table (it is capped at
    # `outputs_shown` rows, so the table always keeps room), and shown below it.
    for section in (
        sections["metrics"],
        sections["outputs"],
        sections["regressed"],
        sections["confirm"],
        *sections["folded"],
    ):
        _fill(section, page, remaining)
    return _within(template.render(context), layout)


def _render_files(report: Report, layout: Layout) -> str:
    """A step's prompt files: the overview table, then each file's report folded, each within an
    equal share of what the overview leaves of the budget."""
    template = _environment().get_template("files.md.j2")
    files = report.facts.files
    context: dict[str, Any] = {"report": report, "layout": layout, "bodies": [""] * len(files)}
    remaining = layout.budget - size(template.render(context))
    share = max(0, remaining // len(files))
    nested = dataclasses.replace(layout, budget=share, hard_limit=share, marker=None, nested=True)
    context["bodies"] = [
        render(file.report, nested).rstrip("\n") if _says_more(file) else "" for file in files
    ]
    return _within(template.render(context), layout)


def _says_more(file: FileOutcome) -> bool:
    """Whether a file's own report says more than its overview row and sentence: a gate's or a
    rebaseline's always; a publish's only when something went wrong."""
    return file.report.command != "publish" or file.report.error is not None


def _within(text: str, layout: Layout) -> str:
    """Last resort, unreachable with the per-field limits: cut at a line to fit the hard limit."""
    if size(text) <= layout.hard_limit:
        return text
    note = f"\n\n_… cut to fit GitHub's size limit; {layout.see_also}._\n"
    room = layout.hard_limit - size(note) - HARD_CUT_MARGIN
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
