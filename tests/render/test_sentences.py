"""Sentences in the summary (what a command did, warnings, errors) show a `quoted` name as a code
span, never as literal backslash-escaped backticks, and stay inert however hostile the name; a
publish of prompt files shows only the overview columns that mean something for publish, and each
file's sentence once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckaction.markdown import ZWSP, clean, md_sentence
from ckaction.render import render_summary
from ckaction.report import ErrorInfo, Facts, FileOutcome, Report
from tests.render.builders import TOL, WORKFLOW, make_report
from tests.render.gfm import MD, tables


def inline(markdown: str) -> list[tuple[str, str]]:
    """The inline tokens of one paragraph: (type, content)."""
    tokens = MD.parse(markdown)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], markdown
    return [(child.type, child.content) for child in tokens[1].children or []]


def shown(markdown: str) -> str:
    """What a reader sees, code spans without their backticks and zero-width spaces dropped."""
    return "".join(content for _, content in inline(markdown)).replace(ZWSP, "")


def test_a_quoted_prompt_name_is_a_code_span() -> None:
    out = md_sentence("published version 3 of `Support reply` (id 5).")
    assert inline(out) == [
        ("text", "published version 3 of "),
        ("code_inline", "Support reply"),
        ("text", " (id 5)."),
    ]


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        ("a `b` c `d", "a b c `d"),  # an unpaired backtick is shown as typed
        ("`<!-- ckaction-report -->` x", "`<!-- ckaction-report -->` x"),  # never raw HTML
        ("`a|b` c", "`a|b` c"),
        ("` padded ` x", "` padded ` x"),
        ("`a``b`", "a`b`"),  # two spans in a row would read as one
    ],
)
def test_what_cannot_be_a_code_span_is_escaped_text(raw: str, seen: str) -> None:
    out = md_sentence(raw)
    assert shown(out) == seen
    assert "<!--" not in out and "|" not in out.replace("&#124;", "")


def test_a_mention_in_a_code_span_is_broken_too() -> None:
    out = md_sentence("named `@octocat` and `#12`")
    assert "@\u200bocto" in out and "#\u200b12" in out
    assert [kind for kind, _ in inline(out)] == ["text", "code_inline", "text", "code_inline"]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("`ab <>|&*_[]()@#\\-!$~\n"), max_size=60))
def test_any_sentence_is_inert_and_shows_every_character_but_span_backticks(raw: str) -> None:
    out = md_sentence(raw, 200)
    if not out:
        assert clean(raw) == ""
        return
    kinds = {kind for kind, _ in inline(out)}
    assert kinds <= {"text", "code_inline"}, (raw, out, kinds)
    assert shown(out).replace("`", "") == clean(raw).replace("`", "")


def publish_step(*files: FileOutcome) -> Report:
    done = [sentence for file in files for sentence in file.report.facts.done]
    result = "error" if any(file.report.error for file in files) else "passed"
    return make_report(
        result=result,
        command="publish",
        files=list(files),
        done=done,
        workflow_run_url=WORKFLOW,
        tolerances=TOL,
    )


def published(path: str, prompt: str, version: int, prompt_id: int) -> FileOutcome:
    sentence = (
        f"{path}: published version {version} of `{prompt}` (id {prompt_id}, replacing version 1, "
        "id 1); its gate run 3 passed."
    )
    facts = Facts(
        command="publish",
        prompt_id=prompt_id,
        done=(sentence,),
        outputs={"prompt-id": str(prompt_id), "version-number": str(version)},
    )
    return FileOutcome(path, prompt, "passed", Report("passed", TOL, facts))


def refused(path: str, prompt: str) -> FileOutcome:
    why = ErrorInfo("Publish refused", "No ckaction-passed run has this content.")
    return FileOutcome(path, prompt, "error", Report("error", TOL, Facts(command="publish"), why))


def test_publish_shows_file_prompt_verdict_and_live_version_and_each_sentence_once() -> None:
    text = render_summary(
        publish_step(published("prompts/support-reply.yml", "Support reply", 3, 5))
    )
    (overview,) = tables(text)
    assert overview.header == ["File", "Prompt", "Verdict", "Live version"]
    assert overview.rows == [
        ["prompts/support-reply.yml", "Support reply", "✅ published", "v3 (id 5)"]
    ]
    assert text.count("published version 3 of") == 1
    assert "published version 3 of `Support reply` (id 5," in text
    assert "\\`" not in text and "<details>" not in text
    assert text.startswith("## ✅ Publish passed: 1 prompt file, 1 published\n")


def test_a_refused_file_keeps_its_folded_reason() -> None:
    text = render_summary(publish_step(refused("prompts/a.yml", "A")))
    assert tables(text)[0].rows == [["prompts/a.yml", "A", "⚠️ error", "—"]]
    assert text.count("<details>") == 1
    assert "No ckaction-passed run has this content." in text


def test_a_hostile_prompt_name_in_a_publish_sentence_stays_inert() -> None:
    name = "x` <img src=x> @octocat `y"
    text = render_summary(publish_step(published("prompts/x.yml", name, 2, 9)))
    assert "<img" not in text and "@octocat" not in text
    rendered = MD.render(text)
    assert "<img" not in rendered


def test_rebaseline_of_a_file_shows_its_runs_but_no_comparison_columns() -> None:
    facts = Facts(command="rebaseline", done=("Captured a fresh baseline.",))
    file = FileOutcome("prompts/a.yml", "A", "passed", Report("passed", TOL, facts))
    report = make_report(result="passed", command="rebaseline", files=[file], tolerances=TOL)
    assert tables(render_summary(report))[0].header == ["File", "Prompt", "Verdict", "Runs"]
