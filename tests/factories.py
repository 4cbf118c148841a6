"""Small builders for compare payloads and responses, shaped like CompletionKit's JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ckaction.models import Comparison, Response, ResponseFacts


def judge(
    metric_id: int,
    left: Any,
    right: Any,
    *,
    name: str = "Accuracy",
    delta: Any = "auto",
    left_version: int | None = 1,
    right_version: int | None = 1,
) -> dict[str, Any]:
    if delta == "auto":
        delta = None if left is None or right is None else round(float(right) - float(left), 2)
    return {
        "metric_id": metric_id,
        "metric_name": name,
        "kind": "llm_judge",
        "left_score": None if left is None else f"{float(left):.1f}",
        "right_score": None if right is None else f"{float(right):.1f}",
        "left_passed": None,
        "right_passed": None,
        "left_metric_version_id": left_version,
        "right_metric_version_id": right_version,
        "delta": delta,
        "result_change": None,
    }


def check(
    metric_id: int, left: bool | None, right: bool | None, *, name: str = "Has order no"
) -> dict[str, Any]:
    change = None
    if left is not None and right is not None:
        change = "same" if left == right else ("broke" if left else "fixed")
    return {
        "metric_id": metric_id,
        "metric_name": name,
        "kind": "check",
        "left_score": None,
        "right_score": None,
        "left_passed": left,
        "right_passed": right,
        "left_metric_version_id": 1,
        "right_metric_version_id": 1,
        "delta": None,
        "result_change": change,
    }


def row(index: int, *per_metric: dict[str, Any], missing: bool = False) -> dict[str, Any]:
    return {
        "left_response_id": 1000 + index,
        "right_response_id": None if missing else 2000 + index,
        "row_index": index,
        "per_metric": list(per_metric),
    }


def comparison(*rows: dict[str, Any]) -> Comparison:
    metric_ids: list[int] = []
    for r in rows:
        for entry in r["per_metric"]:
            if entry["metric_id"] not in metric_ids:
                metric_ids.append(entry["metric_id"])
    return Comparison.model_validate(
        {"left_run_id": 1, "right_run_id": 2, "metric_ids": metric_ids, "rows": list(rows)}
    )


def responses(
    comp: Comparison,
    *,
    side: str,
    extra_inputs: tuple[str, ...] = (),
    inputs: Mapping[int, str] | None = None,
    rationales: Mapping[int, str] | None = None,
    outputs: Mapping[int, str | None] | None = None,
) -> dict[int, ResponseFacts]:
    """Responses of one side of a comparison, as the API serializes them, reduced to the facts
    the verdict reads. `inputs` and `rationales` (by row index) replace the generated text
    verbatim; with `rationales` given, rows it does not name get `why <row>`; `outputs` (by row
    index) are this side's `response_text` (none without it)."""
    out: dict[int, Response] = {}
    for r in comp.rows:
        rid = r.left_response_id if side == "left" else r.right_response_id
        if rid is None:
            continue
        index = r.row_index if r.row_index is not None else -1
        reviews = [
            {
                "metric_id": m.metric_id,
                "ai_feedback": f"rationale {r.row_index}/{m.metric_id}"
                if rationales is None
                else rationales.get(index, f"why {index}"),
            }
            for m in r.per_metric
        ]
        text = (inputs or {}).get(index, f"input {index}")
        out[rid] = Response.model_validate(
            {
                "id": rid,
                "input_data": json.dumps({"text": text, "expected_output": "x"}),
                "reviews": reviews,
                "row_index": r.row_index,
                "response_text": (outputs or {}).get(index),
            }
        )
    for n, text in enumerate(extra_inputs):
        out[9000 + n] = Response.model_validate(
            {"id": 9000 + n, "input_data": json.dumps({"text": text})}
        )
    return {rid: ResponseFacts.of(response, keep_output=True) for rid, response in out.items()}


def api_repo(slug: str) -> dict:
    """A repository as workflow_run's pull_requests list it: id, API URL and name only."""
    return {"id": 1, "url": f"https://api.github.com/repos/{slug}", "name": slug.split("/")[1]}


def workflow_run(base: str, number: int = 12) -> dict:
    """A `workflow_run` event payload whose one pull request's base is the repository `base`."""
    pull = {
        "number": number,
        "head": {"ref": "fix", "sha": "ab" * 20, "repo": api_repo(base)},
        "base": {"ref": "main", "sha": "cd" * 20, "repo": api_repo(base)},
    }
    return {"action": "completed", "workflow_run": {"pull_requests": [pull]}}
