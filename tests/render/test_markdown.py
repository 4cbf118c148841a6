"""ckaction.markdown: untrusted text becomes one inert run of inline text, losslessly."""

from __future__ import annotations

import sys
import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckaction.markdown import (
    LONG_WORD,
    ZWSP,
    clean,
    fmt_tolerance,
    md_link,
    md_text,
    md_url,
    shorten,
)
from tests.render.gfm import MD, tables, visible


def cell(text: str) -> tuple[str, set[str]]:
    """`text` as the only cell of a one-row table: its rendered text and the token types in it."""
    found = tables(f"| h | x |\n|---|---|\n| {text} | end |\n")
    assert len(found) == 1 and len(found[0].rows) == 1
    cells = found[0].rows[0]
    assert cells[1] == "end", "the cell must not spill into the next one"
    return cells[0], found[0].kinds[0][0]


def test_a_pipe_and_newlines_stay_in_one_cell() -> None:
    text, kinds = cell(md_text("a | b\nc\r\nd\re\tf \\| g"))
    assert visible(text) == "a | b c d e f \\| g"
    assert kinds == {"text"}


@pytest.mark.parametrize(
    "raw",
    [
        "<img src=https://t.example/pixel.gif>",
        "</details><details open><summary>pwned</summary>",
        "<!-- ckaction-report -->",
        "<script>alert(1)</script>",
        "<https://e.example>",
    ],
)
def test_html_is_shown_as_text(raw: str) -> None:
    out = md_text(raw)
    assert "<" not in out and ">" not in out
    html = MD.render(out)
    assert "<img" not in html and "<details" not in html and "<!--" not in html
    assert "<script" not in html and "<a" not in html
    assert visible(cell(out)[0]) == raw


def test_entity_tricks_show_as_typed() -> None:
    raw = "&lt;img src=x&gt; &#124; &amp; &#x3C;b&#x3E;"
    text, kinds = cell(md_text(raw))
    assert visible(text) == raw and kinds == {"text"}
    assert "<img" not in MD.render(md_text(raw)) and "<b>" not in MD.render(md_text(raw))


@pytest.mark.parametrize(
    "raw",
    ["`code`", "``a`b``", "**bold**", "*em*", "_em_", "__b__", "~~del~~", "[x](http://a.b)",
     "![p](http://a.b/p.png)", "[ref]: http://a.b", "$x^2$", "$$\\sum$$", "\\*not em\\*", "a\\"],
)  # fmt: skip
def test_markdown_syntax_is_inert(raw: str) -> None:
    text, kinds = cell(md_text(raw))
    assert text == raw
    assert kinds == {"text"}


@pytest.mark.parametrize(
    ("raw", "broken"),
    [("@octocat", "@\u200bocto"), ("cc @acme/team", "@\u200bacme"), ("#123", "#\u200b123"),
     ("see acme/prompts#7", "#\u200b7"), ("GH-45", "GH-\u200b45"), ("gh-45", "gh-\u200b45")],
)  # fmt: skip
def test_mentions_and_issue_references_are_broken_with_a_zero_width_space(
    raw: str, broken: str
) -> None:
    out = md_text(raw)
    assert broken in out
    assert visible(cell(out)[0]) == raw


def test_an_email_or_a_hash_without_digits_is_left_alone() -> None:
    assert md_text("#hashtag") == "\\#hashtag"  # escaped at the start (a heading), no ZWSP
    assert md_text("x #hashtag") == "x #hashtag"


@pytest.mark.parametrize(
    "raw", ["# title", "- item", "+ item", "1. one", "12) twelve", "> quote", "---", "===", "* x"]
)
def test_block_syntax_at_the_start_of_a_line_stays_text(raw: str) -> None:
    for doc in (f"> {md_text(raw)}\n", f"- {md_text(raw)}\n", f"{md_text(raw)}\n"):
        tokens = [t.type for t in MD.parse(doc)]
        assert not {"heading_open", "hr", "ordered_list_open"} & set(tokens), (raw, tokens)
        assert tokens.count("bullet_list_open") <= 1 and tokens.count("blockquote_open") <= 1
    assert visible(cell(md_text(raw))[0]) == raw


def test_invisible_and_control_characters_are_dropped() -> None:
    raw = "a\x00b\x07c\x1b[0md\x7fe\x85f\u200bg\u2060h\ufeffi\u202ej\u202ck\U000e0041l\u00adm"
    assert clean(raw) == "abc[0mde fghijklm"  # U+0085 (NEL) is whitespace: a space


def test_zwj_and_zwnj_survive_for_emoji_and_scripts() -> None:
    family = "👩\u200d👩\u200d👧"
    assert clean(family) == family
    assert clean("می\u200cخواهم") == "می\u200cخواهم"


def test_every_control_and_format_character_is_dropped() -> None:
    kept = {"\u200c", "\u200d"}
    missed = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs")
        and chr(code) not in kept
        and clean(f"a{chr(code)}b") not in ("ab", "a b")
    ]
    assert missed == []


def test_lone_surrogates_are_dropped_so_the_output_encodes() -> None:
    out = md_text("bad \ud800 surrogate \udfff")
    out.encode("utf-8")
    assert out == "bad surrogate"


def test_very_long_words_get_break_opportunities_but_urls_do_not() -> None:
    word = "x" * (LONG_WORD * 3)
    out = md_text(word, 500)
    assert out.count(ZWSP) == 2 and visible(out) == word
    url = "https://app.example/" + "a" * 100
    assert ZWSP not in md_text(f"see {url} now", 500)


def test_shorten_counts_visible_characters_and_marks_the_cut() -> None:
    assert shorten("a  b\n\nc", 10) == "a b c"
    assert shorten("abcdefghij", 5) == "abcd…"
    assert len(shorten("word " * 100, 20)) <= 20
    huge = "y" * 1_000_000
    assert shorten(huge, 10) == "y" * 9 + "…"


@given(st.text(alphabet=st.sampled_from("|<>&`*_$\\[]~#@"), min_size=1, max_size=400))
def test_heavily_escaped_text_stays_within_about_twice_its_limit(raw: str) -> None:
    out = md_text(raw, 100)
    assert len(out) <= 2 * 100 + 16


@given(st.text())
def test_any_text_renders_as_exactly_its_visible_characters(raw: str) -> None:
    out = md_text(raw, 80)
    assert "\n" not in out and "\r" not in out
    text, kinds = cell(out or "—")
    assert kinds <= {"text"}
    expected = shorten(raw, 80)
    seen = visible(text)
    assert seen == (expected or "—") or (
        seen.endswith("…") and shorten(raw, 10**6).startswith(seen[:-1])
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ck.example/runs/5", "https://ck.example/runs/5"),
        ("https://ck.example/r?a=(b) c|d", "https://ck.example/r?a=%28b%29%20c%7Cd"),
        ("https://ck.example/<img>", "https://ck.example/%3Cimg%3E"),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("//evil.example", None),
        ("", None),
        (None, None),
    ],
)
def test_urls_are_http_only_and_cannot_end_the_link(url: str | None, expected: str | None) -> None:
    assert md_url(url) == expected


def test_a_link_with_an_unusable_url_is_plain_text() -> None:
    assert md_link("run 5", "javascript:x") == "run 5"
    html = MD.render(md_link("run 5", "https://ck.example/r/(5) x"))
    assert html.count("<a ") == 1 and 'href="https://ck.example/r/%285%29%20x"' in html


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("-1.0"), "-1.0"), (Decimal("-0.20"), "-0.2"), (Decimal("-1E+1"), "-10.0"),
     (Decimal("0"), "0.0"), (None, "—")],
)  # fmt: skip
def test_tolerances_print_without_exponents(value: Decimal | None, text: str) -> None:
    assert fmt_tolerance(value) == text
