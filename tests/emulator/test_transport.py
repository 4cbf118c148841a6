"""The in-process transport gives the same answers as the HTTP server, and never sleeps for real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ckaction.emulator import Emulator, EmulatorTransport, Fault, serve
from tests.emulator.conftest import TOKEN, FakeClock

IN_PROCESS_URL = "http://emulator.test"
UNREPEATABLE_KEYS = {"created_at", "updated_at", "family_key"}  # wall clock, uuid4
COMPARED_HEADERS = ("content-type", "x-total-count", "x-limit", "x-offset", "retry-after")

Outcome = tuple[int, dict[str, str], Any]


def seeded_emulator() -> Emulator:
    emu = Emulator(token=TOKEN, org="acme", clock=FakeClock())
    # Per controller, as the engine keys it: the prompts controller's 7th request is refused.
    emu.rate_limit = 6
    metric = emu.add_metric("Quality", "llm_judge", "Rate quality.")
    dataset = emu.add_dataset("greetings", [{"text": "hello"}, {"text": "good day"}])
    for version in range(5):
        emu.add_prompt(f"Greeter {version}", "Reply to: {{text}}", "gpt-4o-mini")
    emu.add_completed_run(1, dataset["id"], [metric["id"]])
    emu.faults.append(Fault(method="GET", path=r"/datasets$", status=503, body="<h1>down</h1>"))
    emu.faults.append(Fault(method="GET", path=r"/metrics$", malformed=True))
    return emu


def repeatable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: repeatable(v) for k, v in value.items() if k not in UNREPEATABLE_KEYS}
    if isinstance(value, list):
        return [repeatable(item) for item in value]
    return value


def outcome(response: httpx.Response) -> Outcome:
    try:
        body: Any = repeatable(response.json())
    except ValueError:
        body = response.text
    headers = {k: response.headers[k] for k in COMPARED_HEADERS if k in response.headers}
    return response.status_code, headers, body


def session(client: httpx.Client) -> list[Outcome]:
    """A get, a paged list, a 404, a 422, a raw-body fault, a malformed body, then the prompts
    controller's 429s."""
    sent = [
        client.get("runs/1"),
        client.get("prompts", params={"limit": 2, "offset": 1}),
        client.get("runs/999"),
        client.post("runs", json={"prompt_id": 999, "metric_ids": ["x"]}),
        client.get("datasets"),
        client.get("metrics"),
        *(client.get("prompts/1") for _ in range(7)),
    ]
    return [outcome(response) for response in sent]


@pytest.fixture
def over_http() -> Iterator[list[Outcome]]:
    with (
        serve(seeded_emulator()) as server,
        httpx.Client(
            base_url=server.url + "/",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5.0,
            verify=False,
        ) as client,
    ):
        yield session(client)


def in_process_client(emu: Emulator, **options: Any) -> httpx.Client:
    return httpx.Client(
        transport=EmulatorTransport(emu),
        base_url=f"{IN_PROCESS_URL}{emu.api_root_path}/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        **options,
    )


def test_same_answers_as_over_http(over_http: list[Outcome]) -> None:
    emu = seeded_emulator()
    with in_process_client(emu) as client:
        in_process = session(client)
    assert in_process == over_http
    statuses = [status for status, _, _ in in_process]
    assert statuses == [200, 200, 404, 422, 503, 200, *[200] * 5, 429, 429]
    assert in_process[1][1]["x-total-count"] == "5"
    assert [prompt["id"] for prompt in in_process[1][2]] == [4, 3]
    assert in_process[5][2] == '{"id": 1, "status": "runn'
    assert {record.client for record in emu.requests} == {"127.0.0.1"}


def test_a_delay_of_the_read_timeout_raises_read_timeout_after_processing() -> None:
    clock = FakeClock()
    slept: list[float] = []
    emu = Emulator(token=TOKEN, org="acme", clock=clock, sleep=slept.append)
    emu.add_dataset("greetings", [{"text": "hello", "actual_output": "hi"}])
    emu.faults.append(
        Fault(method="POST", path=r"/runs$", status=502, delay=2.0, after_processing=True)
    )
    with (
        in_process_client(emu, timeout=httpx.Timeout(5.0, read=2.0)) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("runs", json={"dataset_id": 1})
    assert slept == []
    assert clock.now == 1000.0
    assert [run["id"] for run in emu.list_runs().items] == [1]  # the write landed
    assert [(r.method, r.path, r.status) for r in emu.requests] == [("POST", "/runs", 502)]


def test_a_shorter_delay_waits_with_the_emulators_sleep() -> None:
    clock = FakeClock()
    emu = Emulator(token=TOKEN, org="acme", clock=clock, sleep=clock.advance)
    emu.faults.append(Fault(method="GET", path=r"/prompts$", status=None, delay=1.5))
    with in_process_client(emu, timeout=2.0) as client:
        response = client.get("prompts")
    assert response.status_code == 200
    assert response.json() == []
    assert clock.now == 1001.5


def test_without_a_read_timeout_any_delay_waits() -> None:
    clock = FakeClock()
    emu = Emulator(token=TOKEN, org="acme", clock=clock, sleep=clock.advance)
    emu.faults.append(Fault(method="GET", path=r"/prompts$", status=503, delay=600.0))
    with in_process_client(emu, timeout=None) as client:
        response = client.get("prompts")
    assert response.status_code == 503
    assert clock.now == 1600.0
