"""Which server the emulator plays (`surface.py`), over real HTTP: listings that misbehave, an old
engine, and the faults that make a server slow or down for a while. Each test names the engine
behaviour (or the misbehaviour) it pins."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ckaction.emulator import Emulator, Fault
from tests.emulator.conftest import FakeClock

PAGING_HEADERS = ("X-Total-Count", "X-Limit", "X-Offset")


def make_runs(emu: Emulator, basic: dict[str, Any], count: int) -> list[int]:
    body = {"prompt_id": basic["prompt"]["id"], "dataset_id": basic["dataset"]["id"]}
    return [emu.create_run(body)["id"] for _ in range(count)]


def test_a_server_that_ignores_offset_answers_the_first_page_again(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    make_runs(emu, basic, 5)
    emu.ignores_offset = True
    first = client.get("runs", params={"limit": 2})
    again = client.get("runs", params={"limit": 2, "offset": 2})
    assert again.json() == first.json()
    assert again.headers["X-Offset"] == "0" and again.headers["X-Total-Count"] == "5"


def test_a_server_that_drops_paging_headers_still_pages(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    ids = make_runs(emu, basic, 5)
    emu.drops_paging_headers = True
    page = client.get("runs", params={"limit": 2, "offset": 2})
    assert [run["id"] for run in page.json()] == sorted(ids, reverse=True)[2:4]
    assert not any(name in page.headers for name in PAGING_HEADERS)


def test_a_server_that_ignores_filters_lists_everything(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    first, second = make_runs(emu, basic, 2)
    emu.ignores_filters = True
    listed = client.get("runs", params={"prompt_id": 999, "status": "completed"})
    assert [run["id"] for run in listed.json()] == [second, first]
    # a member route's parameters are not filters: compare still reads `with`
    compared = client.get(f"runs/{second}/compare", params={"with": first})
    assert compared.json()["right_run_id"] == first


@pytest.mark.parametrize("member", ["compare", "rerun", "regrade", "retry_failures"])
def test_the_old_engine_has_no_compare_rerun_regrade_or_retry_route(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any], member: str
) -> None:
    """completion-kit v0.3.0 `config/routes.rb`: runs have only generate and judge members; Rails'
    exceptions app answers an unrouted path 404 `{"status":404,"error":"Not Found"}`."""
    (run_id,) = make_runs(emu, basic, 1)
    emu.old_engine = True
    method = "GET" if member == "compare" else "POST"
    answer = client.request(method, f"runs/{run_id}/{member}", params={"with": run_id})
    assert answer.status_code == 404
    assert answer.json() == {"status": 404, "error": "Not Found"}


def test_the_old_engine_lists_every_run_unfiltered_unpaged_without_headers(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    """v0.3.0 `RunsController#index`: `render json: Run.order(created_at: :desc)`."""
    ids = make_runs(emu, basic, 60)
    emu.old_engine = True
    listed = client.get("runs", params={"prompt_id": 999, "limit": 2, "offset": 10})
    assert [run["id"] for run in listed.json()] == sorted(ids, reverse=True)
    assert not any(name in listed.headers for name in PAGING_HEADERS)


def test_the_old_engine_drops_tags_silently(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    """v0.3.0 `run_params` permits no `tag_names` (tags came in 0.5.0): the create succeeds, the
    tags are gone."""
    emu.old_engine = True
    created = client.post(
        "runs",
        json={
            "prompt_id": basic["prompt"]["id"],
            "dataset_id": basic["dataset"]["id"],
            "tag_names": ["ckaction-gate"],
        },
    )
    assert created.status_code == 201
    assert created.json()["tags"] == []


def test_head_is_routed_as_get_without_a_body(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    """Rails routes HEAD to the GET route and sends no body."""
    (run_id,) = make_runs(emu, basic, 1)
    head = client.head(f"runs/{run_id}/compare", params={"with": run_id})
    assert head.status_code == 200 and head.content == b""
    assert client.head("runs/999999/compare", params={"with": 1}).status_code == 404


def test_a_fault_during_a_window_of_the_clock_is_an_outage(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any], clock: FakeClock
) -> None:
    (run_id,) = make_runs(emu, basic, 1)
    outage = Fault("GET", r"/runs/\d+$", status=503, times=1000, during=(1010.0, 1020.0))
    emu.faults.append(outage)
    seen = []
    for _ in range(6):  # at 1000, 1004, 1008 | 1012, 1016 | 1020
        seen.append(client.get(f"runs/{run_id}").status_code)
        clock.advance(4.0)
    assert seen == [200, 200, 200, 503, 503, 200]
    assert outage.hits == 2


def test_a_fault_can_send_a_retry_after(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    (run_id,) = make_runs(emu, basic, 1)
    emu.faults.append(Fault("GET", r"/runs/\d+$", status=503, headers={"Retry-After": "120"}))
    refused = client.get(f"runs/{run_id}")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "120"


@pytest.mark.real_clock
def test_a_dripping_fault_sends_its_body_a_byte_at_a_time(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    (run_id,) = make_runs(emu, basic, 1)
    emu.faults.append(Fault("GET", r"/runs/\d+$", status=None, drip=0.001))
    chunks: list[bytes] = []
    with client.stream("GET", f"runs/{run_id}") as answer:
        chunks.extend(answer.iter_raw())
    body = b"".join(chunks)
    assert httpx.Response(200, content=body).json()["id"] == run_id
    assert len(chunks) > 1  # it arrived in pieces, not in one write
