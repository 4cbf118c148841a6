"""One real-socket test per behaviour that crosses the network: retried reads, a refused connection,
and read timeouts. The gate runs in-process with the real HTTP transport; the emulator is served on
127.0.0.1 on the same fake clock, so nothing waits for real except the read timeouts themselves."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.clock import Deadline
from ckaction.emulator import Fault, serve
from ckaction.errors import UncertainOutcome
from tests.conftest import TOKEN
from tests.integration.helpers import run_action, statuses

READ_TIMEOUT_SECONDS = 0.2  # short, so a late answer is a real timeout on a real socket
LATE_ANSWER_SECONDS = 0.5  # how late the emulator answers: well past the read timeout
STEP_MINUTES = "0.5"  # timeout-minutes for the refused connection: retries stop within it


def test_reads_are_retried_after_429_and_503(emulated, action_env):
    emulated.emulator.faults.append(Fault("GET", r"/runs/\d+$", status=429, times=2))
    emulated.emulator.faults.append(Fault("GET", r"/compare$", status=503, times=1))
    with serve(emulated.emulator) as server:
        result = run_action(
            emulated,
            action_env,
            {"api-url": server.url, "prompt-id": str(emulated.ids.prompt_v2_id)},
            over_http=True,
        )
    assert result.code == 1, result.stdout
    assert statuses(emulated.emulator, "GET", r"/runs/\d+$")[:3] == [429, 429, 200]
    assert statuses(emulated.emulator, "GET", r"/compare$") == [503, 200]
    reads = [
        r.time
        for r in emulated.emulator.requests
        if r.method == "GET" and re.search(r"/runs/\d+$", r.path)
    ]
    assert reads[0] < reads[1] < reads[2]  # each retry came after a backoff, on the fake clock


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_is_an_error_within_the_steps_timeout(emulated, action_env):
    started = emulated.time.now()
    port = closed_port()
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": f"http://127.0.0.1:{port}/orgs/acme/api/v1",
            "prompt-id": "2",
            "timeout-minutes": STEP_MINUTES,
        },
        over_http=True,
    )
    assert result.code == 2
    # The error names the host it tried.
    assert f"could not connect to CompletionKit at 127.0.0.1:{port} (ConnectError)" in result.stdout
    assert "Check api-url / org" in result.stdout
    assert len(emulated.time.slept) >= 1  # it was retried
    assert emulated.time.now() - started <= float(STEP_MINUTES) * 60


@pytest.fixture
def impatient_client(emulated):
    """The gate's API client with a short read timeout, over a real socket, sleeping on the fake
    clock between retries."""
    with serve(emulated.emulator) as server:
        http = build_http_client(
            server.url, TOKEN, timeout=httpx.Timeout(5.0, read=READ_TIMEOUT_SECONDS)
        )
        deadline = Deadline.after(60, emulated.time.now)
        with http:
            yield CompletionKitClient(http, sleep=emulated.time.sleep, deadline=deadline)


@pytest.mark.real_clock
def test_a_read_that_times_out_is_sent_again(emulated, impatient_client):
    run_id = emulated.ids.baseline_run_id
    late = Fault("GET", rf"/runs/{run_id}$", status=None, delay=LATE_ANSWER_SECONDS)
    emulated.emulator.faults.append(late)
    assert impatient_client.get_run(run_id).id == run_id  # the second answer, in time
    assert late.hits == 1
    assert len(emulated.time.slept) == 1  # one retry, after one backoff


@pytest.mark.real_clock
def test_a_write_that_times_out_is_uncertain_and_not_sent_again(emulated, impatient_client):
    ids = emulated.ids
    emulated.emulator.faults.append(
        Fault("POST", r"/runs$", status=None, delay=LATE_ANSWER_SECONDS)
    )
    body = {
        "prompt_id": ids.prompt_v2_id,
        "dataset_id": ids.dataset_id,
        "metric_ids": ids.metric_ids,
        "judge_model": ids.judge_model,
    }
    with pytest.raises(UncertainOutcome, match="no answer in time"):
        impatient_client.create_run(body)
    created = emulated.emulator.list_runs({"prompt_id": [str(ids.prompt_v2_id)]}).items
    assert len(created) == 1  # it landed, once: the late answer was not taken for a refusal
