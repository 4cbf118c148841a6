"""Files from a pull request cannot hang or exhaust the step: the sign-off file and prompt files
are read only as regular files, at most 256 KiB, and as YAML without anchors or aliases (issue 12,
"Hostile files and events")."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from ckaction.errors import InputError
from ckaction.promptfile import INPUT, load_prompt_file
from ckaction.safefile import MAX_FILE_BYTES
from ckaction.signoff import load_signoffs

TODAY = dt.date(2026, 12, 1)
ALIAS_BOMB = "\n".join(
    [
        "- prompt: x",
        "  metric: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        *(
            f"  m{level}: &{chr(98 + level)} [" + ", ".join([f"*{chr(97 + level)}"] * 9) + "]"
            for level in range(6)
        ),
    ]
)
"""A billion-laughs document: a few hundred bytes that expand nine-fold at every level."""
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def signoff_problem(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_signoffs(path, "signoffs.yml", today=TODAY)
    return caught.value.problems["signoffs-file"]


def prompt_problem(path: Path, workspace: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_prompt_file(path, workspace)
    return caught.value.problems[INPUT]


# -- the sign-off file ---------------------------------------------------------------------------


def test_a_missing_signoff_file_means_no_signoffs(tmp_path: Path) -> None:
    assert load_signoffs(tmp_path / "signoffs.yml", "signoffs.yml", today=TODAY) == ([], [], [])


def test_a_signoff_alias_bomb_is_refused_at_its_first_anchor(tmp_path: Path) -> None:
    path = tmp_path / "signoffs.yml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB.encode()) < 1024
    assert signoff_problem(path) == (
        "signoffs.yml line 2: YAML anchors and aliases are not allowed"
    )


def test_a_signoff_entry_repeated_through_an_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signoffs.yml"
    path.write_text(
        "- &entry {prompt-id: 7, metric: Accuracy, input: x, reason: r, approved-by: maria,"
        " expires: 2027-01-01}\n- *entry\n"
    )
    assert "anchors and aliases are not allowed" in signoff_problem(path)


def test_a_signoff_file_over_the_cap_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "signoffs.yml"
    path.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    assert signoff_problem(path) == "signoffs.yml is larger than 256 KiB"


def test_a_signoff_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "signoffs.yml").mkdir()
    assert signoff_problem(tmp_path / "signoffs.yml") == (
        "signoffs.yml is a directory, not a regular file"
    )


def test_a_signoff_symlink_to_an_endless_device_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signoffs.yml"
    path.symlink_to(os.devnull if os.name == "nt" else "/dev/zero")
    assert signoff_problem(path) == "signoffs.yml is a device, not a regular file"


@needs_fifo
def test_a_signoff_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "signoffs.yml"
    os.mkfifo(path)
    assert signoff_problem(path) == "signoffs.yml is a pipe, not a regular file"


# -- prompt files --------------------------------------------------------------------------------


def test_a_prompt_file_alias_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "support.yml"
    path.write_text("llm_model: m\ntemplate: &t hello\ndescription: *t\n")
    assert prompt_problem(path, tmp_path) == (
        "support.yml line 2: YAML syntax: YAML anchors and aliases are not allowed"
    )


def test_a_front_matter_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "support.md"
    path.write_text("---\nllm_model: &m gpt\ndescription: *m\n---\nHello {{name}}\n")
    assert "YAML anchors and aliases are not allowed" in prompt_problem(path, tmp_path)


@needs_fifo
def test_a_template_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "body.txt")
    path = tmp_path / "support.yml"
    path.write_text("llm_model: m\ntemplate_file: body.txt\n")
    assert prompt_problem(path, tmp_path) == (
        "support.yml line 2: template_file body.txt: is a pipe, not a regular file"
    )


def test_a_template_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "body").mkdir()
    path = tmp_path / "support.yml"
    path.write_text("llm_model: m\ntemplate_file: body\n")
    assert prompt_problem(path, tmp_path) == (
        "support.yml line 2: template_file body: is a directory, not a regular file"
    )
