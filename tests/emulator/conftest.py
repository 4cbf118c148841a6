"""Fixtures: an emulator on a fake clock, served over real HTTP, and an httpx client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ckaction.emulator import Emulator, EmulatorServer, serve

TOKEN = "ck-test-token"


class FakeClock:
    """A mutable clock: call it for the time, `advance` to move it. Never sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    emulator = Emulator(token=TOKEN, org="acme", clock=clock)
    emulator.run_duration = 10.0
    return emulator


@pytest.fixture
def server(emu: Emulator) -> Iterator[EmulatorServer]:
    with serve(emu) as running:
        yield running


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url + "/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5.0,
        verify=False,  # plain HTTP; skips loading the CA bundle (keeps the suite fast)
    ) as http:
        yield http


@pytest.fixture
def basic(emu: Emulator) -> dict[str, Any]:
    """One prompt, a three-row dataset, one LLM-judge metric and one check."""
    metric = emu.add_metric("Quality", "llm_judge", "Rate quality.")
    check = emu.add_metric(
        "Says hello", "check", check_config={"check_kind": "contains", "value": "hello"}
    )
    dataset = emu.add_dataset(
        "greetings",
        [
            {"text": "hello world", "expected_output": "hi"},
            {"text": "good day", "expected_output": "hi"},
            {"text": "hello again", "expected_output": "hi"},
        ],
    )
    prompt = emu.add_prompt("Greeter", "Reply to: {{text}}", "gpt-4o-mini")
    return {"metric": metric, "check": check, "dataset": dataset, "prompt": prompt}


MakeRun = Callable[..., dict[str, Any]]


@pytest.fixture
def make_run(client: httpx.Client, basic: dict[str, Any]) -> MakeRun:
    """POST /runs for the basic prompt/dataset/metrics (overridable), asserting 201."""

    def create(**extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt_id": basic["prompt"]["id"],
            "dataset_id": basic["dataset"]["id"],
            "metric_ids": [basic["metric"]["id"], basic["check"]["id"]],
            "judge_model": "gpt-4o",
            **extra,
        }
        response = client.post("runs", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    return create
