"""Sign-off file entries scoped to a prompt file (`prompt-file:`): read, checked, applied."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from ckaction.signoff import SignOffs, load_signoffs

TODAY = dt.date(2026, 6, 1)
ENTRY = """- input: address
  metric: Accuracy
  min-delta: -2
  reason: terse is fine
  expires: 2026-12-31
"""


def load(tmp_path: Path, extra: str) -> tuple[list, list]:
    path = tmp_path / "signoffs.yml"
    path.write_text(ENTRY + extra)
    valid, _, rejected = load_signoffs(path, "signoffs.yml", today=TODAY)
    return valid, rejected


def test_an_entry_scoped_to_a_file_covers_only_that_file(tmp_path: Path) -> None:
    (entry,), _ = load(tmp_path, "  prompt-file: ./prompts/a.yml\n")
    assert entry.prompt_file == "prompts/a.yml"
    args = ("change the address", "Accuracy", Decimal(-2), False)
    assert SignOffs((entry,), prompt_file="prompts/a.yml").covering(*args) is not None
    assert SignOffs((entry,), prompt_file="prompts/b.yml").covering(*args) is None


def test_an_entry_without_prompt_file_covers_every_file(tmp_path: Path) -> None:
    (entry,), _ = load(tmp_path, "")
    args = ("change the address", "Accuracy", Decimal(-2), False)
    assert SignOffs((entry,), prompt_file="prompts/b.yml").covering(*args) is not None


def test_a_prompt_file_that_is_not_a_path_is_rejected_with_its_line(tmp_path: Path) -> None:
    valid, (rejected,) = load(tmp_path, "  prompt-file: 3\n")
    assert valid == []
    assert rejected.where == "signoffs.yml line 1" and "prompt-file" in rejected.problem
