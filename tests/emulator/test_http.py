"""Transport-level contract: auth, error shapes, pagination headers, list filters, resources."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ckaction.emulator import Emulator, EmulatorServer

TOKEN = "ck-test-token"
MakeRun = Callable[..., dict[str, Any]]

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_url_is_org_scoped_api_root(server: EmulatorServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/orgs/acme/api/v1", server.url)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": "bearer x"},
    ],
)
def test_missing_or_wrong_token_is_401(server: EmulatorServer, headers: dict[str, str]) -> None:
    response = httpx.get(server.url + "/runs", headers=headers, verify=False)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_unconfigured_token_is_401_with_its_own_message(
    emu: Emulator, client: httpx.Client
) -> None:
    emu.token = None
    response = client.get("runs")
    assert response.status_code == 401
    assert response.json() == {"error": "API token not configured"}


def test_unknown_route_and_record_are_404_json(
    client: httpx.Client, server: EmulatorServer
) -> None:
    assert client.get("nope").status_code == 404
    assert client.get("nope").json()["error"]
    missing = client.get("runs/999")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Record not found"}
    assert client.get("runs/abc").json() == {"error": "Record not found"}
    other_org = httpx.get(
        server.url.replace("/orgs/acme/", "/orgs/other/") + "/runs",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert other_org.status_code == 404


def test_body_must_be_a_json_object(client: httpx.Client, basic: dict[str, Any]) -> None:
    bad = client.post("runs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert "error" in bad.json()
    wrapped = client.post("runs", json=[1, 2])
    assert wrapped.status_code == 400
    # A Rails-style {"run": {...}} wrapper is not understood: top-level keys are required.
    nested = client.post("runs", json={"run": {"prompt_id": basic["prompt"]["id"]}})
    assert nested.status_code == 422
    assert nested.json()["error"] == "Validation failed"


def test_pagination_headers_and_clamping(emu: Emulator, client: httpx.Client) -> None:
    for index in range(7):
        emu.add_prompt(f"P{index}", "static text")
    cases: list[tuple[dict[str, Any], str, str, int]] = [
        ({}, "50", "0", 7),
        ({"limit": 0, "offset": -5}, "50", "0", 7),
        ({"limit": 1000}, "500", "0", 7),
        ({"limit": 3, "offset": 5}, "3", "5", 2),
        ({"limit": "abc", "offset": "2x"}, "50", "2", 5),
        ({"limit": -1, "offset": 100}, "50", "100", 0),
    ]
    for params, limit, offset, count in cases:
        response = client.get("prompts", params=params)
        assert response.status_code == 200
        assert response.headers["X-Total-Count"] == "7"
        assert response.headers["X-Limit"] == limit, params
        assert response.headers["X-Offset"] == offset, params
        assert len(response.json()) == count, params
        assert "Link" not in response.headers


def test_paging_loop_visits_every_prompt_newest_first(emu: Emulator, client: httpx.Client) -> None:
    ids = [emu.add_prompt(f"P{i}", "x")["id"] for i in range(5)]
    seen: list[int] = []
    offset = 0
    while True:
        response = client.get("prompts", params={"limit": 2, "offset": offset})
        seen += [p["id"] for p in response.json()]
        offset += int(response.headers["X-Limit"])
        if offset >= int(response.headers["X-Total-Count"]):
            break
    assert seen == sorted(ids, reverse=True)


def test_runs_list_filters_and_order(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any], make_run: MakeRun
) -> None:
    first = make_run(tag_names=["ci", "nightly"])
    second = make_run(tag_names=["manual"])
    third = make_run()
    client.post(f"runs/{first['id']}/generate")
    other_prompt = emu.add_prompt("Other", "static")
    other = client.post("runs", json={"prompt_id": other_prompt["id"]}).json()

    def ids(**params: Any) -> list[int]:
        return [r["id"] for r in client.get("runs", params=params).json()]

    assert ids() == [other["id"], third["id"], second["id"], first["id"]]
    assert ids(status="running") == [first["id"]]
    assert ids(status="pending", prompt_id=basic["prompt"]["id"]) == [third["id"], second["id"]]
    assert ids(dataset_id=basic["dataset"]["id"]) == [third["id"], second["id"], first["id"]]
    assert ids(**{"tag[]": ["nightly", "manual"]}) == [second["id"], first["id"]]
    assert ids(prompt_id=999) == []


def test_run_create_shape_tags_and_auto_name(
    client: httpx.Client, basic: dict[str, Any], make_run: MakeRun
) -> None:
    run = make_run(tag_names=["ci"], temperature=0.2, max_tokens=300)
    assert run["status"] == "pending"
    assert run["name"] == "Greeter — v1 #1"
    assert make_run()["name"] == "Greeter — v1 #2"
    assert run["metric_ids"] == [basic["metric"]["id"], basic["check"]["id"]]
    assert run["temperature"] == 0.2
    assert run["max_tokens"] == 300
    assert run["judge_temperature"] == 0.0
    assert run["progress_total"] == 0
    assert run["avg_score"] is None
    assert ISO_MS.match(run["created_at"])
    (tag,) = run["tags"]
    assert set(tag) == {"id", "name", "color", "created_at", "updated_at"}
    assert tag["name"] == "ci"
    assert isinstance(tag["id"], int)
    # PATCH replaces tags; [] clears; metric_ids untouched when absent.
    patched = client.patch(f"runs/{run['id']}", json={"tag_names": [], "name": "renamed"}).json()
    assert patched["tags"] == []
    assert patched["name"] == "renamed"
    assert patched["metric_ids"] == run["metric_ids"]
    assert client.patch(f"runs/{run['id']}", json={"metric_ids": []}).json()["metric_ids"] == []


def test_run_create_validation_errors(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    def details(body: dict[str, Any]) -> dict[str, list[str]]:
        response = client.post("runs", json=body)
        assert response.status_code == 422
        assert response.json()["error"] == "Validation failed"
        result: dict[str, list[str]] = response.json()["details"]
        return result

    assert "prompt" in details({"prompt_id": 999, "dataset_id": basic["dataset"]["id"]})
    assert set(details({})) == {"name", "dataset_id"}
    no_dataset = details({"prompt_id": basic["prompt"]["id"]})
    assert no_dataset == {"dataset_id": ["is required: prompt uses text"]}
    needs_topic = emu.add_prompt("Topic", "About {{topic}} and {{text}}")
    missing = details({"prompt_id": needs_topic["id"], "dataset_id": basic["dataset"]["id"]})
    assert missing["dataset_id"] == ["is missing columns required by the prompt: topic"]
    bad_expected = details(
        {
            "prompt_id": basic["prompt"]["id"],
            "dataset_id": basic["dataset"]["id"],
            "expected_column": "gold",
        }
    )
    assert "expected_column" in bad_expected
    assert "max_tokens" in details(
        {"prompt_id": basic["prompt"]["id"], "dataset_id": basic["dataset"]["id"], "max_tokens": 0}
    )
    assert "judge_temperature" in details(
        {
            "prompt_id": basic["prompt"]["id"],
            "dataset_id": basic["dataset"]["id"],
            "judge_temperature": 1.5,
        }
    )
    assert client.get("runs").json() == []


def test_delete_run_is_204_then_404(client: httpx.Client, make_run: MakeRun) -> None:
    run = make_run()
    deleted = client.delete(f"runs/{run['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"runs/{run['id']}").status_code == 404
    assert client.delete(f"runs/{run['id']}").status_code == 404


def test_datasets_and_metrics_endpoints(client: httpx.Client) -> None:
    created = client.post(
        "datasets", json={"name": "d", "csv_data": "text,expected_output\nHello,Hi\n"}
    )
    assert created.status_code == 201
    dataset = created.json()
    assert set(dataset) == {"id", "name", "csv_data", "created_at", "updated_at", "tags"}
    assert client.get(f"datasets/{dataset['id']}").json()["csv_data"].startswith("text,")
    assert client.get("datasets").headers["X-Total-Count"] == "1"
    blank = client.post("datasets", json={"name": ""})
    assert blank.status_code == 422
    assert set(blank.json()["details"]) == {"name", "csv_data"}

    judge = client.post("metrics", json={"name": "Tone", "instruction": "Rate tone."})
    assert judge.status_code == 201
    assert judge.json()["metric_type"] == "llm_judge"
    assert [b["stars"] for b in judge.json()["rubric_bands"]] == [1, 2, 3, 4, 5]
    check = client.post(
        "metrics",
        json={
            "name": "Is JSON",
            "metric_type": "check",
            "check_config": {"check_kind": "valid_json"},
        },
    ).json()
    assert check["check_config"] == {"check_kind": "valid_json"}
    assert "instruction" not in check
    no_instruction = client.post("metrics", json={"name": "Vague"})
    assert no_instruction.status_code == 422
    assert "instruction" in no_instruction.json()["details"]
    assert client.get(f"metrics/{check['id']}").json()["name"] == "Is JSON"
    assert client.get("metrics/404").status_code == 404


def test_requests_are_recorded(emu: Emulator, client: httpx.Client, clock: Any) -> None:
    client.get("runs", params={"status": "completed", "tag[]": ["a", "b"]})
    client.get("runs/77")
    first, second = emu.requests
    assert (first.method, first.path, first.status) == ("GET", "/runs", 200)
    assert first.query == {"status": ["completed"], "tag[]": ["a", "b"]}
    assert first.time == clock.now
    assert first.full_path == "/orgs/acme/api/v1/runs"
    assert (second.path, second.status) == ("/runs/77", 404)


def test_concurrent_creates_get_distinct_ids(client: httpx.Client, basic: dict[str, Any]) -> None:
    body = {"prompt_id": basic["prompt"]["id"], "dataset_id": basic["dataset"]["id"]}

    def create(_: int) -> int:
        response = client.post("runs", json=body)
        assert response.status_code == 201
        run_id: int = response.json()["id"]
        return run_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(16)))
    assert sorted(ids) == list(range(1, 17))
