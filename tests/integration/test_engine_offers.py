"""What the engine offers a gate, used against the emulator (in process, and over HTTP where said):
responses downloaded with `fields=` after the compare, one `GET /prompts/:id` per prompt,
`rebaseline-method` (rerun, regrade, new run), `retry_failures` once before rows are declared
unscored, and a rerun whose answer was lost read back before any resend."""

from __future__ import annotations

import contextlib
import re

import pytest

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.clock import Deadline
from ckaction.flow import OUTPUT_FIELD, VERDICT_FIELDS, Gate
from ckaction.inputs import Settings
from ckaction.report import Facts
from tests.conftest import TOKEN, ActionEnv, Emulated
from tests.integration.helpers import api_root, gate_step

VERDICT_QUERY = ",".join(VERDICT_FIELDS)
WITH_OUTPUT_QUERY = ",".join((*VERDICT_FIELDS, OUTPUT_FIELD))


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    def warning(self, message: str, *, title: str = "") -> bool:
        self.lines.append(f"{title}: {message}")
        return True

    def group(self, title: str) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def emulated_gate(emulated: Emulated, **inputs: str) -> Gate:
    """A gate of the seeded candidate over the emulator's transport, on its fake clock."""
    settings = Settings.parse(
        {
            "api_token": TOKEN,
            "api_url": emulated.url,
            "prompt_id": str(emulated.ids.prompt_v2_id),
            "row_tolerance": "-1.0",
            **inputs,
        }
    )
    time = emulated.time
    deadline = Deadline.after(settings.timeout_seconds, time.now)
    http = build_http_client(settings.api_root, TOKEN, transport=emulated.transport)
    client = CompletionKitClient(http, sleep=time.sleep, deadline=deadline)
    return Gate(
        settings,
        client,
        log=Log(),
        clock=time.now,
        sleep=time.sleep,
        deadline=deadline,
        commit="c" * 40,
        facts=Facts(command="gate"),
    )


def response_queries(emulated: Emulated) -> dict[int, list[str]]:
    """The `fields` each `GET /runs/:id/responses` asked for, by run id."""
    asked: dict[int, list[str]] = {}
    for request in emulated.emulator.requests:
        found = re.fullmatch(r"/runs/(\d+)/responses", request.path)
        if request.method == "GET" and found:
            asked.setdefault(int(found[1]), []).extend(request.query.get("fields", ["<all>"]))
    return asked


def prompt_reads(emulated: Emulated) -> list[str]:
    return [
        r.path
        for r in emulated.emulator.requests
        if r.method == "GET" and re.fullmatch(r"/prompts/[^/]+", r.path)
    ]


# -- fields= -------------------------------------------------------------------------------------


@pytest.mark.parametrize("over_http", [False, True])
def test_a_gate_with_no_regression_downloads_no_outputs(
    emulated: Emulated, action_env: ActionEnv, over_http: bool
) -> None:
    """Gating the live version against its own baseline changes no score: both runs' responses
    come with the verdict's fields only (no `response_text`, no `expected_output`)."""
    with api_root(emulated, over_http=over_http) as root:
        result = gate_step(
            emulated,
            action_env,
            over_http=over_http,
            **{"api-url": root, "prompt-id": str(emulated.ids.prompt_v1_id)},
        )
    assert result.code == 0, result.summary
    baseline, candidate = emulated.ids.baseline_run_id, int(result.outputs["run-id"])
    assert response_queries(emulated) == {baseline: [VERDICT_QUERY], candidate: [VERDICT_QUERY]}


def test_a_regression_downloads_outputs_on_both_sides(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    baseline, candidate = emulated.ids.baseline_run_id, int(result.outputs["run-id"])
    assert response_queries(emulated) == {
        baseline: [WITH_OUTPUT_QUERY],
        candidate: [WITH_OUTPUT_QUERY],
    }


def test_outputs_are_kept_only_for_the_rows_that_regressed(emulated: Emulated) -> None:
    """The responses the verdict receives carry the output of the regressed row on both sides,
    and no other row's: a 10,000-row gate keeps only what the report shows."""
    gate = emulated_gate(emulated)
    report = gate.run()
    assert report.result == "regressed"
    assert gate.facts.candidate is not None
    comparison = gate.client.compare(emulated.ids.baseline_run_id, gate.facts.candidate.id)
    baseline, candidate = gate.compared_responses(comparison)
    regressed_row = next(
        row for row in comparison.rows if row.row_index == emulated.ids.regressed_row_index
    )
    assert regressed_row.left_response_id is not None
    assert regressed_row.right_response_id is not None
    kept = {rid for rid, facts in baseline.items() if facts.output is not None}
    assert kept == {regressed_row.left_response_id}
    kept = {rid for rid, facts in candidate.items() if facts.output is not None}
    assert kept == {regressed_row.right_response_id}
    shown = emulated.emulator.get_response(gate.facts.candidate.id, regressed_row.right_response_id)
    assert candidate[regressed_row.right_response_id].output == shown["response_text"]
    assert all(facts.input_data for facts in (*baseline.values(), *candidate.values()))


# -- GET /prompts/:id ----------------------------------------------------------------------------


def test_a_gate_reads_each_prompt_once(emulated: Emulated, action_env: ActionEnv) -> None:
    """The candidate (a draft) and the live version are two prompts: two reads, not more."""
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.summary
    reads = prompt_reads(emulated)
    assert len(reads) == 2 and len(set(reads)) == 2, reads


def test_a_gate_of_the_live_version_reads_it_once(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """A current prompt is its own live version: one read, no lookup of its family."""
    result = gate_step(emulated, action_env, **{"prompt-id": str(emulated.ids.prompt_v1_id)})
    assert result.code == 0, result.summary
    assert prompt_reads(emulated) == [f"/prompts/{emulated.ids.prompt_v1_id}"]


def test_rebaseline_reads_the_prompt_once(emulated: Emulated, action_env: ActionEnv) -> None:
    result = gate_step(
        emulated,
        action_env,
        command="rebaseline",
        **{"prompt-id": str(emulated.ids.prompt_v1_id)},
    )
    assert result.code == 0, result.summary
    assert prompt_reads(emulated) == [f"/prompts/{emulated.ids.prompt_v1_id}"]
