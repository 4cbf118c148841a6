"""`.github/workflows/release.yml` run locally by `act` on a version tag, up to the push.

act runs the jobs on this host (`-P ubuntu-latest=-self-hosted`), so the workflow's own `docker`
commands reach the engine .ci/container.sh uses (podman's Docker API on a private socket). On the
package's version tag the image job checks that the tag, the package version and action.yml's
image agree, builds the image, runs `ckaction --version` in it, and, with no registry credentials,
skips the push and its digest check and says so; the PyPI job (it clones a remote action, which act
cannot do here) and the major tag, which needs it, are skipped under act. A tag that is not the
package version fails before anything is built.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ckaction import __version__
from tests.container.conftest import ROOT, Engine, requires_containers, run_act

pytestmark = [pytest.mark.container, requires_containers]

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
IMAGE = f"ghcr.io/ckaction/ckaction:{__version__}"


def run_release(tag: str, docker_host: dict[str, str], tmp_path: Path, *extra: str) -> str:
    if shutil.which("docker") is None:
        pytest.skip("the release workflow's steps run `docker`: no docker client on this host")
    event = tmp_path / "event.json"
    # `act: true` is how a job's `if:` knows it runs under act (it cannot read env.ACT).
    event.write_text(json.dumps({"act": True, "ref": f"refs/tags/{tag}"}))
    args = ("-e", str(event), "-P", "ubuntu-latest=-self-hosted", *extra)
    proc = run_act(WORKFLOW, docker_host, tmp_path / "home", *args)
    log = proc.stdout + proc.stderr
    return f"exit {proc.returncode}\n{log}"


def test_the_release_workflow_builds_and_checks_the_image_and_skips_the_push(
    engine: Engine, docker_host: dict[str, str], tmp_path: Path
) -> None:
    try:
        log = run_release(f"v{__version__}", docker_host, tmp_path)
    finally:
        engine.run(["rmi", "-f", IMAGE])
    assert log.startswith("exit 0\n"), log[-8000:]
    assert f"image={IMAGE}" in log, log[-8000:]
    assert f"| ckaction {__version__}" in log, log[-8000:]  # the built image ran --version
    assert "no registry credentials: the push (and its check) is skipped" in log, log[-8000:]
    assert "Run Main The pushed digest runs" not in log  # nothing was pushed, so nothing to check
    assert "Publish to PyPI" not in log  # skipped under act, with the major tag after it
    assert "Move the major tag" not in log
    assert log.count("Job succeeded") == 1, log[-8000:]


def test_a_tag_that_is_not_the_package_version_fails_before_the_build(
    docker_host: dict[str, str], tmp_path: Path
) -> None:
    log = run_release("v9.9.9", docker_host, tmp_path, "-j", "image")
    assert not log.startswith("exit 0\n"), log[-8000:]
    assert f"tag v9.9.9 is not v{__version__}, the package version" in log, log[-8000:]
    assert "Run Main Build the image" not in log
