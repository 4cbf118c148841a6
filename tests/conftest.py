"""Shared fixtures: the seeded emulator in-process on a fake clock (`emulated`) or served over real
HTTP on 127.0.0.1 (`served`), and the runner's environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from ckaction.emulator import DemoIds, Emulator, EmulatorServer, seed_demo, serve
from ckaction.emulator.transport import EmulatorTransport

# Property tests draw the same examples on every run (a red build is never a draw's bad luck);
# HYPOTHESIS_PROFILE=explore draws new ones, to look for counterexamples on purpose.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(autouse=True)
def unpaced_github(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyGithub's pacing (a pause between requests, a longer one between writes) and the retry
    backoff only slow a test down: every GitHub a test talks to is the local fake."""
    for name in ("REQUEST_SPACING_SECONDS", "WRITE_SPACING_SECONDS", "RETRY_BACKOFF_SECONDS"):
        monkeypatch.setattr(f"ckaction.github.{name}", 0.0)


TOKEN = "ck-test-token-0123456789"
RUN_SECONDS = 0.3  # how long an emulated evaluation run takes: short, for the real-clock tests
FAKE_EPOCH = 1000.0  # where the fake clock starts
# The in-process emulator's address: port 9 (discard) on loopback, where nothing answers, so a
# request that bypassed the transport fails at once instead of reaching anything.
UNSERVED_ORIGIN = "http://127.0.0.1:9"


class FakeTime:
    """One clock for the gate, its API client and the emulator: `sleep` advances it, never sleeps."""

    def __init__(self, start: float = FAKE_EPOCH) -> None:
        self.current = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += seconds


@dataclass(frozen=True)
class Emulated:
    """The seeded emulator in-process: the gate reaches it through `transport`, on `time`."""

    emulator: Emulator
    ids: DemoIds
    time: FakeTime

    @property
    def url(self) -> str:
        """An API root no socket ever serves: the transport answers every request in-process."""
        return UNSERVED_ORIGIN + self.emulator.api_root_path

    @property
    def transport(self) -> EmulatorTransport:
        return EmulatorTransport(self.emulator)


@pytest.fixture
def emulated() -> Emulated:
    time = FakeTime()
    emulator = Emulator(token=TOKEN, org="acme", clock=time.now)
    emulator.run_duration = RUN_SECONDS
    return Emulated(emulator, seed_demo(emulator), time)


@dataclass(frozen=True)
class Served:
    emulator: Emulator
    server: EmulatorServer
    ids: DemoIds

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def served() -> Iterator[Served]:
    emulator = Emulator(token=TOKEN, org="acme")
    emulator.run_duration = RUN_SECONDS
    ids = seed_demo(emulator)
    with serve(emulator) as server:
        yield Served(emulator, server, ids)


@dataclass
class ActionEnv:
    """The environment the runner gives a Docker action, with its file commands in tmp_path."""

    root: Path

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def output_file(self) -> Path:
        return self.root / "file_commands" / "output"

    @property
    def summary_file(self) -> Path:
        return self.root / "file_commands" / "summary"

    @property
    def event_file(self) -> Path:
        return self.root / "workflow" / "event.json"

    def environ(
        self,
        inputs: dict[str, str],
        *,
        event: str = "push",
        payload: dict | None = None,
        **extra: str,
    ) -> dict[str, str]:
        for path in (self.workspace, self.output_file.parent, self.event_file.parent):
            path.mkdir(parents=True, exist_ok=True)
        self.event_file.write_text(json.dumps(payload or {}))
        # Each step gets fresh file commands, as on the runner.
        self.output_file.unlink(missing_ok=True)
        self.summary_file.unlink(missing_ok=True)
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(self.output_file),
            "GITHUB_STEP_SUMMARY": str(self.summary_file),
            "GITHUB_EVENT_PATH": str(self.event_file),
            "GITHUB_EVENT_NAME": event,
            "GITHUB_REPOSITORY": "acme/prompts",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": "http://127.0.0.1:9",
        }
        env.update(extra)
        for name, value in inputs.items():
            env[f"INPUT_{name.upper()}"] = value
        return env

    def outputs(self) -> dict[str, str]:
        """Parse GITHUB_OUTPUT's heredoc records."""
        if not self.output_file.exists():
            return {}
        lines = self.output_file.read_text().split("\n")
        outputs: dict[str, str] = {}
        i = 0
        while i < len(lines):
            if "<<" in lines[i]:
                name, delimiter = lines[i].split("<<", 1)
                j = lines.index(delimiter, i + 1)
                outputs[name] = "\n".join(lines[i + 1 : j])
                i = j + 1
            else:
                i += 1
        return outputs

    def summary(self) -> str:
        return self.summary_file.read_text() if self.summary_file.exists() else ""


@pytest.fixture
def action_env(tmp_path: Path) -> ActionEnv:
    return ActionEnv(tmp_path)
