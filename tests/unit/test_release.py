"""What a release ships agrees with itself (issue 15).

action.yml runs the prebuilt image of the package's own version (as EnricoMi's
publish-unit-test-result-action tests its own); requirements.lock pins, with hashes, a version of
every requirement that requirements.txt allows, and both the Docker image and the composite variant
install that lock with `--require-hashes`. (That the lock is what requirements.txt compiles to today
is `.ci/lock.sh check`, in `.ci/run`: it needs the package index.) The example workflows check the
repository out wherever a step reads its files.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

import ckaction

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "composite"))
import generate  # noqa: E402

IMAGE_LINE = re.compile(r"^  image: docker://(?P<repository>[^:\s]+):(?P<tag>\S+)$", re.MULTILINE)
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?: ;[^\\]*)? \\$")
CHECKOUT = "actions/checkout@"


def image_tag(action_yml: str) -> str:
    match = IMAGE_LINE.search(action_yml)
    assert match, "action.yml must run a prebuilt image: `image: docker://<repository>:<tag>`"
    assert match["repository"] == generate.IMAGE_REPOSITORY
    return match["tag"]


def test_action_yml_runs_the_image_of_the_package_version():
    tag = image_tag((ROOT / "action.yml").read_text())
    assert tag == ckaction.__version__ == version("ckaction"), (
        f"action.yml runs {tag}, the package is {ckaction.__version__}: bump both together, "
        "then python composite/generate.py"
    )


def test_the_version_check_fails_on_another_tag():
    text = (ROOT / "action.yml").read_text().replace(ckaction.__version__, "9.9.9")
    assert image_tag(text) != ckaction.__version__
    with pytest.raises(AssertionError):
        image_tag(text.replace("image: docker://", "image: "))


def test_the_package_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ckaction.__version__"}


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := PIN.match(line):
            current = match["name"].lower().replace("_", "-")
            pins[current] = (match["version"], [])
        elif line.strip().startswith("--hash=sha256:"):
            pins[current][1].append(line.strip().removesuffix(" \\"))
        else:
            assert not line or line.lstrip().startswith("#"), f"unexpected lock line: {line!r}"
    return pins


def test_the_lock_pins_every_requirement_to_an_allowed_version_with_hashes():
    pins = locked()
    assert len(pins) >= 10  # the whole closure, not just the top level
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no hash in requirements.lock"
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements.lock: run .ci/lock.sh"
        assert requirement.specifier.contains(pins[name][0]), (
            f"requirements.lock pins {name}=={pins[name][0]}, outside {requirement.specifier}: "
            "run .ci/lock.sh"
        )


def test_the_image_and_the_composite_install_the_lock_with_hashes():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*--require-hashes -r \S*requirements\.lock", dockerfile)
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text()
    composite = (ROOT / "composite" / "action.yml").read_text()
    assert re.search(
        r"--require-hashes \\\n\s*-r \"\$CKACTION_SOURCE/requirements\.lock\"", composite
    )
    assert re.search(r"pip install [^\n]*--no-deps \"\$CKACTION_SOURCE\"", composite)


def reads_repository_files(step: dict) -> bool:
    """A ckaction step that reads files of the workspace: prompt files, or the sign-offs file a
    gate reads (the default command)."""
    inputs = step.get("with") or {}
    command = inputs.get("command", "gate")
    return "prompt-files" in inputs or command in ("gate", "publish", "drift")


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yml")), ids=lambda p: p.name)
def test_example_jobs_check_the_repository_out_before_reading_its_files(path):
    workflow = yaml.safe_load(path.read_text())
    for name, job in workflow["jobs"].items():
        seen_checkout = seen_artifact = False
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            seen_checkout |= uses.startswith(CHECKOUT)
            seen_artifact |= uses.startswith("actions/download-artifact@")
            if uses.startswith("ckaction/ckaction") and reads_repository_files(step):
                # The fork recipe's stage 2 reads the artifact it downloaded, never a checkout.
                assert seen_checkout or seen_artifact, f"{path.name}: job {name} reads files first"
        if seen_artifact:
            assert not seen_checkout, f"{path.name}: job {name} must not check out the fork's code"
