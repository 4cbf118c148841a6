"""Where a report goes: step outputs, the JSON report file, the job summary (or the CLI's stdout or
--summary-file) and, on pull requests, the sticky comment. Delivery never changes the verdict."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ckaction.context import RunContext
from ckaction.gha import Runner
from ckaction.inputs import Settings
from ckaction.report import Report

if TYPE_CHECKING:
    from github import Github

OUTPUT_NAMES = (
    "run-id",
    "baseline-run-id",
    "result",
    "passed",
    "regressions",
    "avg-score",
    "prompt-id",
    "report",
    "version-number",
    "comment-url",
    "signed-off",
    "recommended-row-tolerance",
    "recommended-avg-tolerance",
)


def gate_outputs(report: Report, report_path: str) -> dict[str, str]:
    outputs = {
        "result": report.result,
        "passed": "true" if report.passed else "false",
        "run-id": str(report.candidate.id) if report.candidate else "",
        "baseline-run-id": str(report.baseline.id) if report.baseline else "",
        "regressions": str(report.counts.regressed),
        "signed-off": str(report.counts.signed_off),
        "avg-score": "" if report.avg_score is None else f"{report.avg_score}",
        "prompt-id": "" if report.prompt_id is None else str(report.prompt_id),
        "report": report_path,
    }
    outputs.update(report.extra_outputs)
    return outputs


def write_report_file(
    report: Report, settings: Settings | None, context: RunContext, runner: Runner
) -> str:
    """Write the JSON report under the workspace; returns its path relative to the workspace."""
    relative = settings.report_path if settings else "ckaction-report.json"
    path = Path(relative)
    target = path if path.is_absolute() else context.workspace / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(runner.redact(report.to_json()), encoding="utf-8")
    try:
        return str(target.resolve().relative_to(context.workspace.resolve()))
    except ValueError:
        return str(target)


def deliver(
    report: Report,
    settings: Settings | None,
    *,
    runner: Runner,
    context: RunContext,
    summary_file: str | None,
    github: Github | None,
) -> None:
    from ckaction.render import render_comment, render_summary

    try:
        report_path = write_report_file(report, settings, context, runner)
    except OSError as exc:
        runner.warning(f"Could not write the JSON report: {exc}", title="Report not written")
        report_path = ""
    announce(report, runner)
    summary = render_summary(report)
    if summary_file:
        Path(summary_file).write_text(runner.redact(summary), encoding="utf-8")
        runner.info(f"Summary written to {summary_file}")
    elif not runner.append_summary(summary) and not runner.on_github:
        with runner.stop_commands():
            runner.info(summary)
    if settings is not None and settings.pr_number is not None:
        context = replace(context, pr_number=settings.pr_number)
    if (
        report.command == "gate"
        and settings is not None
        and settings.comment
        and context.pr_number is not None
    ):
        from ckaction.github import post_comment

        body = runner.redact(render_comment(report))
        url = post_comment(body, settings, context, runner, github)
        if url:
            report.extra_outputs["comment-url"] = url
    for name, value in gate_outputs(report, report_path).items():
        runner.set_output(name, value)


def announce(report: Report, runner: Runner) -> None:
    """One error annotation per regressed metric, and the regressed rows in a log group.

    Row text is echoed inside stop-commands, so a row that reads `::error::…` stays text.
    """
    evaluation = report.evaluation
    if evaluation is None or report.command != "gate":
        return
    for metric in evaluation.metrics:
        if not (metric.regressed or metric.rows_regressed):
            continue
        parts = []
        if metric.rows_regressed:
            parts.append(f"{metric.rows_regressed} row(s) regressed")
        if metric.regressed and metric.gated_mean_delta is not None:
            parts.append(f"mean delta {metric.gated_mean_delta:+.2f} below {metric.tolerance}")
        runner.error("; ".join(parts), title=f"Prompt regression: {metric.name}")
    rows = evaluation.regressed_rows
    if not rows:
        return
    with runner.group(f"Regressed rows ({len(rows)})"), runner.stop_commands():
        for row in rows[:200]:
            for cell in row.regressed_cells:
                change = (
                    "pass→fail"
                    if cell.is_check
                    else f"{cell.baseline} → {cell.new} ({cell.delta:+})"
                )
                runner.info(f"row {row.row_index}: {cell.metric_name} {change}: {row.input[:200]}")
        if len(rows) > 200:
            runner.info(f"… and {len(rows) - 200} more in the JSON report")
