"""Gate steps against respx routes with a fake clock: no network, no real sleeps."""

from decimal import Decimal

import httpx
import pytest
import respx

from ckaction.api import CompletionKitClient, build_http_client
from ckaction.clock import Deadline
from ckaction.decide import Tolerances
from ckaction.errors import GateTimeout, UncertainOutcome
from ckaction.flow import Gate, RunSpec, StepTools, run_mark
from ckaction.inputs import Settings
from ckaction.polling import MAX_DELAY, MIN_DELAY
from ckaction.report import tolerances_of

ROOT = "https://ck.test/orgs/acme/api/v1"


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Log:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, text):
        self.lines.append(text)

    def warning(self, message, *, title=""):
        self.lines.append(f"warning: {title}: {message}")
        return True

    def group(self, title):
        import contextlib

        self.lines.append(f"== {title}")
        return contextlib.nullcontext()


def make_gate(clock, **inputs):
    settings = Settings.parse(
        {"api_token": "tok-1234", "api_url": ROOT, "prompt_id": "2", **inputs}
    )
    http = build_http_client(ROOT, "tok-1234")
    deadline = Deadline.after(settings.timeout_seconds, clock)
    client = CompletionKitClient(http, sleep=clock.sleep, deadline=deadline)
    return Gate(settings, StepTools(client, Log(), clock, clock.sleep, deadline), commit="c" * 40)


def run_json(status, done, total=10):
    return {
        "id": 9,
        "status": status,
        "progress": {
            "generated": {"done": done, "total": total},
            "judged": {"done": done, "total": total},
        },
    }


@respx.mock
def test_wait_polls_until_completed_with_a_fake_clock():
    clock = FakeClock()
    gate = make_gate(clock)
    states = [run_json("running", n) for n in (1, 2, 4, 6, 8, 9)] + [run_json("completed", 10)]
    route = respx.get(f"{ROOT}/runs/9").mock(
        side_effect=[httpx.Response(200, json=s) for s in states]
    )
    run = gate.wait(gate.client.get_run(9))
    assert run.status == "completed"
    assert route.call_count == len(states)
    assert all(MIN_DELAY <= s <= MAX_DELAY for s in clock.sleeps)
    assert any("generated 4/10" in line for line in gate.log.lines)


@respx.mock
def test_wait_stops_at_the_deadline_and_names_the_run():
    clock = FakeClock()
    gate = make_gate(clock, timeout_minutes="0.5")
    respx.get(f"{ROOT}/runs/9").respond(json=run_json("running", 1))
    with pytest.raises(GateTimeout) as caught:
        gate.wait(gate.client.get_run(9))
    assert "Run 9 did not finish" in caught.value.message
    assert "/runs/9" in caught.value.message
    assert clock.now <= 30.0 + 1e-9


@respx.mock
def test_waiting_on_several_runs_reads_them_in_one_listing_a_look_and_names_the_unfinished():
    clock = FakeClock()
    gate = make_gate(clock, timeout_minutes="1")
    done = {**run_json("completed", 10), "id": 10}
    listing = respx.get(f"{ROOT}/runs").respond(json=[run_json("running", 3), done])
    single = respx.get(url__regex=rf"{ROOT}/runs/\d+")
    runs = list(gate.client.list_runs())
    with pytest.raises(GateTimeout) as caught:
        gate.wait_all(runs, lambda: list(gate.client.list_runs()))
    assert "Run 9 did not finish within timeout-minutes (1)" in caught.value.message
    assert "/runs/10" not in caught.value.message
    assert listing.call_count == len(clock.sleeps) + 1 and not single.called
    assert clock.now == 60.0


@respx.mock
def test_an_uncertain_generate_reads_the_run_before_sending_again():
    clock = FakeClock()
    gate = make_gate(clock)
    generate = respx.post(f"{ROOT}/runs/9/generate").respond(502)
    respx.get(f"{ROOT}/runs/9").respond(json=run_json("running", 0))
    run = gate.start(gate.client.get_run(9).model_copy(update={"status": "pending"}))
    assert run.status == "running"
    assert generate.call_count == 1


@respx.mock
def test_an_uncertain_generate_on_a_still_pending_run_is_sent_again():
    clock = FakeClock()
    gate = make_gate(clock)
    generate = respx.post(f"{ROOT}/runs/9/generate").mock(
        side_effect=[httpx.Response(503), httpx.Response(202, json=run_json("running", 0))]
    )
    respx.get(f"{ROOT}/runs/9").respond(json=run_json("pending", 0))
    run = gate.start(gate.client.get_run(9))
    assert run.status == "running" and generate.call_count == 2


@respx.mock
def test_an_uncertain_create_that_never_landed_gives_up_after_three_tries():
    clock = FakeClock()
    gate = make_gate(clock, reuse_runs="false")
    spec = RunSpec(2, 1, (1,), "judge", None, None, None, None)
    create = respx.post(f"{ROOT}/runs").respond(504)
    respx.get(f"{ROOT}/runs").respond(json=[], headers={"X-Total-Count": "0"})
    with pytest.raises(UncertainOutcome):
        gate.obtain_run(spec)
    assert create.call_count == 3


def test_the_run_mark_names_commit_and_configuration():
    spec = RunSpec(2, 1, (1, 2), "judge", 0.2, 0.0, None, None)
    other = RunSpec(2, 1, (1, 2), "judge", 0.3, 0.0, None, None)
    assert run_mark(spec, "a" * 40).startswith("ckaction gate aaaaaaaaaaaa cfg-")
    assert run_mark(spec, "a" * 40) == run_mark(spec, "a" * 40)
    assert run_mark(spec, "a" * 40) != run_mark(other, "a" * 40)
    assert run_mark(spec, None) != run_mark(spec, None)  # no commit: never reused


def test_tolerances_come_from_settings():
    gate = make_gate(
        FakeClock(),
        row_tolerance="-2",
        avg_tolerance="-0.5",
        avg_gate="significant",
        max_unscored="0.3",
    )
    assert gate.tolerances == Tolerances(
        row=Decimal("-2"), avg=Decimal("-0.5"), avg_gate="significant", max_unscored=Decimal("0.3")
    )


def test_without_valid_settings_the_tolerances_are_the_settings_defaults():
    defaults = Settings.parse({"api_token": "tok-1234", "api_url": ROOT, "prompt_id": "2"})
    assert tolerances_of(None) == tolerances_of(defaults)


def test_facts_accumulate_as_new_values():
    gate = make_gate(FakeClock())
    before = gate.facts
    after = gate.learn(dataset_id=7, notes=("a note",))
    assert (before.dataset_id, before.notes) == (None, ())
    assert (after.dataset_id, after.notes, gate.facts) == (7, ("a note",), after)


@respx.mock
def test_a_timeout_on_several_runs_names_each_with_its_link():
    clock = FakeClock()
    gate = make_gate(clock, timeout_minutes="0.5")
    other = {**run_json("running", 5), "id": 10}
    respx.get(f"{ROOT}/runs").respond(json=[run_json("running", 3), other])
    with pytest.raises(GateTimeout) as caught:
        gate.wait_all(list(gate.client.list_runs()), lambda: list(gate.client.list_runs()))
    assert caught.value.message.startswith("Runs 9, 10 did not finish within timeout-minutes")
    assert "/runs/9" in caught.value.message and "/runs/10" in caught.value.message
