"""Where a report goes: the job summary (or the CLI's stdout or --summary-file), on pull requests the
sticky comment, the step outputs, and last the JSON report file, which so holds the outputs as
written and what delivery did. Delivery reads the report and returns what it did (`Delivered`); it
never changes the verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ckaction.context import RunContext
from ckaction.decide import Evaluation
from ckaction.gha import Runner
from ckaction.inputs import Settings
from ckaction.report import Report
from ckaction.wording import counted

if TYPE_CHECKING:
    from github import Github

REGRESSED_ROWS_ECHOED = 200
ECHOED_INPUT_CHARS = 200
CONFIRM_VERDICTS = {"confirmed": " (confirmed)", "unassessable": " (unassessable, verdict kept)"}
"""What a failing row's log line adds after a confirm (`confirm-runs`) re-tested it."""


@dataclass(frozen=True)
class Delivered:
    """What delivery did: the outputs it set, the comment it posted, the JSON file it wrote."""

    outputs: dict[str, str]
    comment_url: str | None
    report_path: str | None


def report_target(settings: Settings | None, context: RunContext) -> tuple[Path | None, str]:
    """Where the JSON report goes (None when report-path leads out of the workspace through a
    symlink), and that path as the `report` output names it, relative to the workspace."""
    default: str = Settings.model_fields["report_path"].default
    relative = settings.report_path if settings else default
    target = context.in_workspace(relative)
    if target is None:
        return None, relative
    return target, str(target.resolve().relative_to(context.workspace.resolve()))


def deliver(
    report: Report,
    settings: Settings | None,
    *,
    runner: Runner,
    context: RunContext,
    summary_file: str | None,
    github: Github | None,
) -> Delivered:
    """Show the report (summary, comment), then record it (outputs, JSON report): recorded even
    when showing it failed, and that failure then raised."""
    if settings is not None and settings.pr_number is not None:
        context = replace(context, pr_number=settings.pr_number)
    comment_url = None
    try:
        comment_url = show(report, settings, runner, context, summary_file, github)
    finally:
        outputs = record(report, settings, runner, context, comment_url)
    return Delivered(outputs, comment_url, outputs["report"] or None)


def show(
    report: Report,
    settings: Settings | None,
    runner: Runner,
    context: RunContext,
    summary_file: str | None,
    github: Github | None,
) -> str | None:
    """Annotations, the job summary (or --summary-file, or stdout) and, for a gate on a pull
    request, the sticky comment; returns the comment's URL when one was posted."""
    from ckaction.render import render_comment, render_summary

    announce(report, runner, blocking=settings is None or settings.fail_on_regression)
    summary = render_summary(report)
    if summary_file:
        Path(summary_file).write_text(runner.redact(summary), encoding="utf-8")
        runner.info(f"Summary written to {summary_file}")
    elif not runner.append_summary(summary) and not runner.on_github:
        with runner.stop_commands():
            runner.info(summary)
    if report.command != "gate" or settings is None or not settings.comment:
        return None
    if context.pr_number is None:
        return None
    from ckaction.github import post_comment

    body = runner.redact(render_comment(report, settings.comment_id))
    return post_comment(body, settings, context, runner, github)


def record(
    report: Report,
    settings: Settings | None,
    runner: Runner,
    context: RunContext,
    comment_url: str | None,
) -> dict[str, str]:
    """The step outputs, then the JSON report holding them; returns the outputs as written (`report`
    is empty when the file could not be written)."""
    target, report_path = report_target(settings, context)
    outputs = report.outputs()
    if comment_url:
        outputs["comment-url"] = comment_url
    outputs["report"] = report_path
    for name, value in outputs.items():
        if name != "report":
            runner.set_output(name, value)
    delivered = {"comment_url": comment_url, "report_path": report_path}
    try:
        if target is None:
            raise OSError(f"report-path {report_path} leads out of the workspace (a symlink)")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Redacted before serialising: once JSON-escaped, a secret is another string.
        data = runner.redact.tree(report.to_dict(outputs, delivered))
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        target.write_text(text, encoding="utf-8")
        runner.notice(f"JSON report written to {report_path} in the workspace.")
    except OSError as exc:
        runner.warning(str(exc), title="JSON report not written")
        outputs["report"] = ""
    runner.set_output("report", outputs["report"])
    return outputs


def announce(report: Report, runner: Runner, *, blocking: bool = True) -> None:
    """Annotations, then the regressions in the log. What the step could not do as asked and a
    comparison that is not like-for-like are warnings. Each regressed metric (of each prompt file)
    is one annotation: an error when the regression fails the job (`blocking`), else a warning
    (with `fail-on-regression: false` the job is green and carries no `::error`). The regressed
    rows go in their own group, each line starting with `regression:`: a regression is a finding,
    not an error of the step.

    Row text is echoed inside stop-commands, so a row that reads `::error::…` stays text.
    """
    for warning in report.facts.warnings:
        runner.warning(warning, title="ckaction")
    if report.command != "gate":
        return
    gated = [(f"{f.path}: ", f.report) for f in report.facts.files] or [("", report)]
    for prefix, each in gated:
        differences = each.facts.not_like_for_like
        if differences and each.error is None:
            runner.warning(
                f"{prefix}the comparison is not like-for-like ({'; '.join(differences)}), so a "
                f"delta may not mean what it seems. Capture a fresh baseline: "
                f"{each.rebaseline_command}",
                title="Baseline not like-for-like",
            )
        if each.evaluation is not None:
            _announce_regressions(prefix, each.evaluation, runner, blocking=blocking)


def _announce_regressions(
    prefix: str, evaluation: Evaluation, runner: Runner, *, blocking: bool
) -> None:
    for metric in evaluation.metrics:
        if not (metric.regressed or metric.rows_regressed):
            continue
        parts = []
        if metric.rows_regressed:
            parts.append(f"{counted(metric.rows_regressed, 'row')} regressed")
        if metric.regressed and metric.gated_mean_delta is not None:
            parts.append(f"mean delta {metric.gated_mean_delta:+.2f} below {metric.tolerance}")
        annotate = runner.error if blocking else runner.warning
        annotate("; ".join(parts), title=f"Prompt regression: {prefix}{metric.name}")
    rows = evaluation.regressed_rows
    if not rows:
        return
    title = f"Regressions: {prefix}{counted(len(rows), 'row')} regressed"
    with runner.group(title), runner.stop_commands():
        for row in rows[:REGRESSED_ROWS_ECHOED]:
            for cell in row.regressed_cells:
                change = (
                    "pass→fail"
                    if cell.is_check
                    else f"{cell.baseline} → {cell.new} ({cell.delta:+})"
                )
                runner.info(
                    f"regression: {prefix}row {row.row_index}{CONFIRM_VERDICTS.get(row.status, '')}"
                    f": {cell.metric_name} {change}: "
                    f"{row.input[:ECHOED_INPUT_CHARS]}"
                )
        if len(rows) > REGRESSED_ROWS_ECHOED:
            more = len(rows) - REGRESSED_ROWS_ECHOED
            runner.info(f"regression: … and {counted(more, 'more row')} in the JSON report")
