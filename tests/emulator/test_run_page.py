"""The emulator's read-only run page (`/orgs/<org>/runs/<id>`, beside the API root, as the engine's
`resources :runs` is beside `api/v1`): the run links in a report open something true, over real
HTTP, every value HTML-escaped."""

from __future__ import annotations

from html import escape
from typing import Any

import httpx

from ckaction.emulator import Emulator, EmulatorServer


def test_a_run_page_shows_the_run_and_its_responses_escaped(
    emu: Emulator, server: EmulatorServer, basic: dict[str, Any]
) -> None:
    prompt = emu.add_prompt("Greeter <b>", "Reply to: {{text}} <script>alert(1)</script>")
    run = emu.add_completed_run(
        prompt["id"], basic["dataset"]["id"], [basic["metric"]["id"]], judge_model="gpt-4o"
    )
    emu.update_run(run["id"], {"name": "night run <img src=x onerror=alert(1)>"})
    page_url = server.url.removesuffix("/api/v1") + f"/runs/{run['id']}"
    answer = httpx.get(page_url)  # no token: a page a signed-in user opens
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    html = answer.text
    assert f"<h1>Run {run['id']}: night run &lt;img src=x onerror=alert(1)&gt;</h1>" in html
    assert "<img" not in html and "<script" not in html
    assert html.count("<tr><td>") == 3  # one line a response of the three-row dataset
    assert "<th>judge_model</th><td>gpt-4o</td>" in html
    for response in emu.list_responses(run["id"]).items:  # what the model said, escaped
        assert f"<td>{escape(response['response_text'])}</td>" in html
    assert emu.requests[-1].status == 200


def test_an_unknown_run_is_a_404_page_and_the_api_is_unchanged(
    server: EmulatorServer, emu: Emulator
) -> None:
    root = server.url.removesuffix("/api/v1")
    missing = httpx.get(f"{root}/runs/999")
    assert missing.status_code == 404 and "No such run" in missing.text
    assert httpx.get(f"{root}/prompts/1").status_code == 404  # the only page is a run's
    assert httpx.get(f"{server.url}/runs/1").status_code == 401  # the API still needs a token
