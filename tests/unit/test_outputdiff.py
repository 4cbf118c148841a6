"""What the model said: the line diff of a regressed row's two outputs, and its cut."""

from __future__ import annotations

from ckaction.outputdiff import EMPTY, MISSING, DiffLine, output_diff


def kinds(before: str | None, after: str | None, max_lines: int = 50) -> list[tuple[str, str]]:
    return [(line.kind, line.text) for line in output_diff(before, after, max_lines).lines]


def test_changed_lines_are_removed_then_added_with_one_line_of_context() -> None:
    before = "Hi Sam,\nYour refund was approved.\nBest,\nAcme\nP.S.\nThanks"
    after = "Hi Sam,\nRefunds take a while.\nBest,\nAcme\nP.S.\nThanks"
    assert kinds(before, after) == [
        ("same", "Hi Sam,"),
        ("removed", "Your refund was approved."),
        ("added", "Refunds take a while."),
        ("same", "Best,"),
        ("skipped", "3 unchanged lines"),
    ]


def test_blank_lines_are_left_out_and_an_empty_output_says_so() -> None:
    assert kinds("a\n\n  \nb", "") == [("removed", "a"), ("removed", "b"), ("added", EMPTY)]


def test_without_both_texts_each_side_is_shown_under_its_label() -> None:
    assert kinds(None, "one\ntwo") == [("baseline", MISSING), ("new", "one"), ("new", "two")]
    diff = output_diff("x", None, 5)
    assert not diff.diffed and diff.lines == (DiffLine("baseline", "x"), DiffLine("new", MISSING))


def test_the_same_text_is_identical_and_a_long_diff_is_cut_to_its_lines() -> None:
    assert output_diff("same\ntext", "same\ntext", 5).identical
    assert not output_diff("a", "b", 5).identical
    diff = output_diff("\n".join(f"old {i}" for i in range(30)), "new", 10)
    assert len(diff.lines) == 10 and diff.cut == 21
