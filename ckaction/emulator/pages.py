"""The one web page the emulator serves: a run, read-only, at `/orgs/<org>/runs/<id>` beside the API
root, so the run links in a report (`web_root/runs/<id>`) open something true in the demo.

The engine serves its run page from the same mount as the API (`resources :runs` next to
`namespace :api { namespace :v1 { resources :runs } }` in completion-kit's config/routes.rb); this is
a minimal view of what the API shows of the run (settings, progress, each response with its output
and scores), every value HTML-escaped. It needs no token, like a page a signed-in user opens; the
emulator only listens on 127.0.0.1.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from ckaction.emulator.records import MAX_LIMIT, ApiError
from ckaction.emulator.routes import Reply
from ckaction.emulator.state import Emulator

HTML_TYPE = "text/html; charset=utf-8"
_RUN_PAGE = re.compile(r"/runs/([0-9]+)/?")
_SETTINGS = ("status", "prompt_id", "dataset_id", "judge_model", "temperature", "avg_score")


def web_root(emu: Emulator) -> str:
    """Where the web pages live: the API root without /api/v1."""
    return emu.api_root_path.removesuffix("/api/v1")


def run_page_id(emu: Emulator, method: str, path: str) -> int | None:
    """The run a GET of `path` asks the page of, or None when it is no run page."""
    root = web_root(emu)
    if method != "GET" or not path.startswith(root + "/"):
        return None
    found = _RUN_PAGE.fullmatch(path[len(root) :])
    return int(found.group(1)) if found else None


def _cell(value: Any) -> str:
    return "<td>—</td>" if value is None or value == "" else f"<td>{escape(str(value))}</td>"


def run_page(emu: Emulator, run_id: int) -> Reply:
    """The run's page (200), or a plain 404 page."""
    try:
        run = emu.get_run(run_id)
        responses = emu.list_responses(run_id, {"limit": [str(MAX_LIMIT)]})
    except ApiError:
        return Reply(404, b"<!doctype html><title>Not found</title><p>No such run.</p>\n",
                     {"Content-Type": HTML_TYPE})  # fmt: skip
    title = escape(f"Run {run['id']}: {run.get('name') or 'unnamed'}")
    settings = "".join(f"<tr><th>{escape(key)}</th>{_cell(run.get(key))}</tr>" for key in _SETTINGS)
    rows = "".join(
        "<tr>"
        + _cell(item.get("row_index"))
        + _cell(item.get("input_data"))
        + _cell(item.get("response_text"))
        + _cell(item.get("score"))
        + _cell(
            "; ".join(
                f"{review.get('metric_name') or review.get('metric_id')}: {review.get('ai_score')}"
                for review in item.get("reviews") or []
            )
        )
        + "</tr>"
        for item in responses.items
    )
    more = responses.total - len(responses.items)
    body = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>CompletionKit emulator: a read-only view of this run.</p>"
        f"<table>{settings}</table>"
        "<h2>Responses</h2><table><tr><th>Row</th><th>Input</th><th>Output</th><th>Score</th>"
        f"<th>Reviews</th></tr>{rows}</table>"
        + (f"<p>{more} more responses: see the API.</p>" if more > 0 else "")
        + "</body></html>\n"
    )
    return Reply(200, body.encode("utf-8"), {"Content-Type": HTML_TYPE})
