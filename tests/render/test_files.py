"""A step that gated prompt files: one overview table (file, prompt, verdict, regressed rows, mean
deltas, runs), then each file's own report folded in a <details> section, within GitHub's limits;
paths and prompt names come from the pull request and are escaped like any untrusted text."""

from __future__ import annotations

from ckaction.render import COMMENT_LIMIT, SUMMARY_LIMIT, render_comment, render_summary
from ckaction.report import ErrorInfo, FileOutcome, Report, step_result
from tests.render.builders import (
    TOL,
    WORKFLOW,
    big_report,
    gate_report,
    judge,
    make_report,
    row,
)
from tests.render.gfm import ALLOWED_TAGS, MD, tables, tags, visible


def step(*files: FileOutcome) -> Report:
    return make_report(
        result=step_result(files), files=list(files), workflow_run_url=WORKFLOW, tolerances=TOL
    )


def regressed(
    path: str = "prompts/support-reply.yml", prompt: str = "Support reply"
) -> FileOutcome:
    report = gate_report(row(1, judge(1, 4, 2)), row(2, judge(1, 4, 4)))
    return FileOutcome(path, prompt, "regressed", report, candidate_prompt_id=42)


def passed(path: str = "prompts/order-summary.yml") -> FileOutcome:
    report = gate_report(row(1, judge(1, 4, 4)))
    return FileOutcome(path, "Order summary", "passed", report, candidate_prompt_id=43)


def unchanged(path: str = "prompts/faq.yml") -> FileOutcome:
    report = make_report("passed", done=[f"{path} equals the live prompt `FAQ` v3: no run."])
    return FileOutcome(path, "FAQ", "unchanged", report)


def failed(path: str = "prompts/typo.yml") -> FileOutcome:
    report = make_report(
        "error", error=ErrorInfo("Configuration error", "prompt `Suport` was not found.", "Fix it.")
    )
    return FileOutcome(path, "Suport", "error", report)


def overview(text: str) -> list[list[str]]:
    return tables(text.split("<details>", 1)[0])[0].rows


def test_the_overview_names_every_file_its_verdict_regressions_deltas_and_runs() -> None:
    text = render_summary(step(regressed(), passed(), unchanged(), failed()))
    rows = overview(text)
    assert [r[0] for r in rows] == [
        "prompts/support-reply.yml",
        "prompts/order-summary.yml",
        "prompts/faq.yml",
        "prompts/typo.yml",
    ]
    assert [r[2] for r in rows] == ["❌ regressed", "✅ passed", "➖ unchanged", "⚠️ error"]
    assert [r[3] for r in rows] == ["1", "0", "—", "—"]
    assert "Accuracy -1.00" in rows[0][4]
    assert rows[0][5] == "run 502 · baseline 501"  # the links' text
    assert text.startswith("## ⚠️ Prompt gate error: 4 prompt files, ")


def test_each_file_has_its_own_folded_report_and_the_page_one_footer() -> None:
    text = render_comment(step(regressed(), failed()))
    assert text.startswith("<!-- ckaction-report -->\n")
    assert text.count("<!-- ckaction-report") == 1
    assert text.count("<details><summary>prompts/") == 2
    support, typo = text.split("<details><summary>prompts/")[1:]
    assert "### ❌ Prompt gate regressed" in support and "### Regressed rows" in support
    assert "prompt `Suport` was not found." in typo.replace("\\", "") and "Fix it." in typo
    assert text.count("<sub>ckaction") == 1
    assert text.count("<details>") == text.count("</details>")


def test_hostile_paths_and_prompt_names_stay_in_their_cells() -> None:
    path = "prompts/a|b<img src=x onerror=alert(1)>.yml"
    prompt = "@everyone **bold** </details> #12"
    text = render_comment(step(regressed(path, prompt), passed()))
    (row0, _) = overview(text)
    assert visible(row0[0]) == path
    assert visible(row0[1]) == prompt
    html = MD.render(text)
    assert set(tags(html)) <= ALLOWED_TAGS
    assert "<img" not in html
    # The prompt's `</details>` is text: every section opened is closed, no more.
    assert text.count("<details>") == text.count("</details>")


def test_thirty_big_files_fit_the_comment_and_the_summary() -> None:
    big = big_report(500)
    files = [
        FileOutcome(f"prompts/p{i:02}.yml", f"Prompt {i}", big.result, big, candidate_prompt_id=i)
        for i in range(30)
    ]
    report = step(*files)
    comment, summary = render_comment(report), render_summary(report)
    assert len(comment) < COMMENT_LIMIT
    assert len(summary.encode("utf-8")) < SUMMARY_LIMIT
    for text in (comment, summary):
        assert len(overview(text)) == 30
        assert text.count("<details><summary>prompts/p") == 30
        assert text.count("<details>") == text.count("</details>")
    assert "left out here" in comment  # each file's share is small: its tables say what is left out


def test_the_comment_of_four_files_as_a_reviewer_reads_it(md_snapshot) -> None:
    """tests/render/__snapshots__/test_files/: the whole comment, for review as GitHub renders it."""
    assert render_comment(step(regressed(), passed(), unchanged(), failed())) == md_snapshot
