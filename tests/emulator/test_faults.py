"""Injected faults and the rate limiter, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ckaction.emulator import Emulator, EmulatorServer, Fault

MakeRun = Callable[..., dict[str, Any]]


def run_body(basic: dict[str, Any]) -> dict[str, Any]:
    return {"prompt_id": basic["prompt"]["id"], "dataset_id": basic["dataset"]["id"]}


def test_status_fault_refuses_without_processing(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    emu.faults.append(Fault(method="POST", path=r"/runs$", status=503))
    refused = client.post("runs", json=run_body(basic))
    assert refused.status_code == 503
    assert "error" in refused.json()
    assert client.get("runs").json() == []  # nothing was created
    assert emu.faults == []  # used up
    assert client.post("runs", json=run_body(basic)).status_code == 201
    assert [r.status for r in emu.requests] == [503, 200, 201]
    assert emu.requests[0].fault is not None


def test_a_write_that_lands_late_is_processed_at_the_first_request_after_its_time(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any], clock: Any
) -> None:
    # A gateway that gave up (504) while the engine was still processing the write.
    emu.faults.append(Fault(method="POST", path=r"/runs$", status=504, lands_after=5.0))
    assert client.post("runs", json=run_body(basic)).status_code == 504
    assert client.get("runs").json() == []  # not landed yet
    clock.advance(4.9)
    assert client.get("runs").json() == []
    clock.advance(0.1)
    (landed,) = client.get("runs").json()  # landed before this read was answered
    assert landed["status"] == "pending"
    assert [r.status for r in emu.requests] == [504, 200, 200, 200]


def test_fault_raw_body_times_and_method_matching(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    emu.faults.append(
        Fault(
            method="GET", path=r"^/runs/\d+$", status=502, body="<html>bad gateway</html>", times=2
        )
    )
    run = client.post("runs", json=run_body(basic)).json()  # POST /runs does not match
    for _ in range(2):
        bad = client.get(f"runs/{run['id']}")
        assert bad.status_code == 502
        assert bad.text == "<html>bad gateway</html>"
        assert bad.headers["Content-Type"].startswith("text/html")
    assert client.get(f"runs/{run['id']}").status_code == 200


def test_after_processing_fault_still_changes_state(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    emu.faults.append(Fault(method="POST", path=r"/runs$", status=502, after_processing=True))
    lost = client.post("runs", json=run_body(basic))
    assert lost.status_code == 502
    runs = client.get("runs").json()
    assert len(runs) == 1  # the create landed although the client saw a 502
    emu.faults.append(Fault(path=r"/runs/\d+/generate$", status=504, after_processing=True))
    assert client.post(f"runs/{runs[0]['id']}/generate").status_code == 504
    assert client.get(f"runs/{runs[0]['id']}").json()["status"] == "running"


def test_delay_fault_triggers_client_read_timeout(
    emu: Emulator, server: EmulatorServer, basic: dict[str, Any]
) -> None:
    emu.faults.append(Fault(method="GET", path=r"/runs$", status=None, delay=0.5))
    with httpx.Client(
        base_url=server.url + "/",
        headers={"Authorization": "Bearer ck-test-token"},
        verify=False,
        timeout=httpx.Timeout(5.0, read=0.1),
    ) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get("runs")
        assert impatient.get("runs").status_code == 200  # the fault is used up


def test_delay_only_fault_processes_then_answers_late(
    emu: Emulator, server: EmulatorServer, basic: dict[str, Any]
) -> None:
    emu.faults.append(Fault(method="POST", path=r"/runs$", status=None, delay=0.3))
    with httpx.Client(
        base_url=server.url + "/",
        headers={"Authorization": "Bearer ck-test-token"},
        verify=False,
        timeout=httpx.Timeout(5.0, read=0.05),
    ) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.post("runs", json=run_body(basic))
        runs = impatient.get("runs").json()
    assert len(runs) == 1  # the create landed although the client never saw the 201


def test_delay_fault_with_status_answers_after_the_delay(
    emu: Emulator, client: httpx.Client, clock: Any
) -> None:
    emu.faults.append(Fault(method="GET", path=r"/prompts$", status=503, delay=0.05))
    response = client.get("prompts")
    assert response.status_code == 503
    assert response.elapsed.total_seconds() >= 0.05


def test_malformed_fault_answers_200_with_invalid_json(
    emu: Emulator, client: httpx.Client, make_run: MakeRun
) -> None:
    run = make_run()
    emu.faults.append(Fault(method="GET", path=r"/runs/\d+$", malformed=True))
    response = client.get(f"runs/{run['id']}")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert client.get(f"runs/{run['id']}").json()["id"] == run["id"]


def test_rate_limit_429_without_retry_after_counts_before_auth(
    emu: Emulator, server: EmulatorServer, client: httpx.Client, clock: Any
) -> None:
    emu.rate_limit = 3
    anonymous = httpx.get(
        server.url + "/runs", verify=False
    )  # rejected by auth, still spends budget
    assert anonymous.status_code == 401
    assert client.get("runs").status_code == 200
    assert client.get("runs").status_code == 200
    limited = client.get("runs")
    assert limited.status_code == 429
    assert limited.json() == {"error": "Rate limit exceeded"}
    assert "Retry-After" not in limited.headers
    assert httpx.get(server.url + "/runs", verify=False).status_code == 429  # before auth, too
    clock.advance(59.0)
    assert client.get("runs").status_code == 429  # the minute that began with the first request
    clock.advance(1.5)
    assert client.get("runs").status_code == 200


def test_rate_limit_can_be_disabled(emu: Emulator, client: httpx.Client) -> None:
    emu.rate_limit = None
    statuses = {client.get("metrics").status_code for _ in range(130)}
    assert statuses == {200}
