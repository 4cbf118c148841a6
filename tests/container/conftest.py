"""Container tests: build the Docker action's image with .ci/container.sh and run it as the runner does.

Slow (an image build, a container per case) and they need podman or Docker, so they are opt-in:
`CKACTION_CONTAINER_TESTS=1 python -m pytest -m container tests/container`.
"""

from __future__ import annotations

import os
import subprocess
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
