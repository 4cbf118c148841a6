"""`.github/workflows/selftest.yml` run locally by `act`, through the engine .ci/container.sh uses.

The job builds the Docker action from the Dockerfile (a local copy of the action written by
.ci/local-action.sh, since action.yml names the released image), gates the emulator's
regressing candidate (the step must fail with result=regressed) and the live prompt (it must
pass), and asserts the outputs in later `run:` steps. With podman, act talks to
`podman system service` on a private socket, started and stopped here by its process id.
The job image is the base image the Dockerfile builds on (python3 with venv and pip).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.container.conftest import (
    ROOT,
    Engine,
    remove_leftover_job_containers,
    requires_containers,
    run_act,
)

pytestmark = [pytest.mark.container, requires_containers]

WORKFLOW = ROOT / ".github" / "workflows" / "selftest.yml"
JOB_IMAGE = "docker.io/library/python:3.12-slim"
JOB_CONTAINER_PREFIX = "act-selftest-"


def test_the_selftest_workflow_passes_under_act(
    engine: Engine, docker_host: dict[str, str], tmp_path: Path
) -> None:
    args = ("-j", "docker-action", "-P", f"ubuntu-latest={JOB_IMAGE}", "--network", "host")
    try:
        proc = run_act(WORKFLOW, docker_host, tmp_path / "home", *args)
    finally:
        remove_leftover_job_containers(engine, JOB_CONTAINER_PREFIX)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-8000:]
    assert "Job succeeded" in log, log[-8000:]
    # The assertions ran: the regressing gate failed its step, the live one passed.
    assert "outcome=failure result=regressed passed=false regressions=1" in log, log[-8000:]
    assert "result=passed passed=true regressions=0" in log, log[-8000:]
