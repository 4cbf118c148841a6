"""Writes whose answer is lost, and runs another job created: read back before any resend, and only
a run's creator starts it (the engine fails a run asked to start twice: `Run#start!` answers any
state but pending or failed with `fail_with_summary!`, app/models/completion_kit/run.rb, as the
emulator's `Lifecycle._start` does). A run the engine leaves `running` with no rows (a lost
`StartRunJob`, shared/completionkit-api.md §15) is not waited on. In process, on the emulator's fake
clock."""

from __future__ import annotations

import re

from ckaction.emulator import Fault
from ckaction.flow import PENDING_GRACE_SECONDS
from tests.integration.helpers import gate_step
from tests.integration.test_prompt_files_gate import OTHER_SHA, PASSING, content_judge, write
from tests.integration.test_prompt_files_gate import gate as files_gate


def posts(emulated, pattern):
    return [
        r for r in emulated.emulator.requests if r.method == "POST" and re.search(pattern, r.path)
    ]


def gate_runs(emulated):
    runs = emulated.emulator.list_runs().items
    return sorted(
        (r for r in runs if (r.get("name") or "").startswith("ckaction gate ")),
        key=lambda r: r["id"],
    )


def pending_twin(emulated, action_env) -> int:
    """A pending run with the mark a gate of this commit uses, as another job leaves it between
    its create and its start: a first gate's run, copied unstarted and then deleted."""
    assert gate_step(emulated, action_env).code == 1
    (done,) = gate_runs(emulated)
    emu = emulated.emulator
    settings = ("name", "prompt_id", "dataset_id", "judge_model", "temperature", "metric_ids")
    twin = emu.create_run(
        {
            **{key: done[key] for key in settings},
            "tag_names": [t["name"] for t in done["tags"]],
        }
    )
    emu.delete_run(done["id"])
    emu.requests.clear()
    return int(twin["id"])


def test_a_start_answered_504_while_still_processing_is_not_sent_again(emulated, action_env):
    # The gateway gave up at once; the start lands 3 s later. One immediate read saw `pending`,
    # and a second generate then failed the run when the first one landed.
    emulated.emulator.faults.append(Fault("POST", r"/generate$", status=504, lands_after=3.0))
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.stdout  # the seeded candidate's regression: measured
    assert "Uncertain start" in result.stdout
    assert len(posts(emulated, r"/generate$")) == 1
    assert [r["status"] for r in gate_runs(emulated)] == ["completed"]


def test_a_create_that_lands_late_is_found_not_sent_again(emulated, action_env):
    emulated.emulator.faults.append(Fault("POST", r"/runs$", status=504, lands_after=5.0))
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.stdout
    assert "Uncertain create" in result.stdout
    assert len(posts(emulated, r"/runs$")) == 1
    assert [r["id"] for r in gate_runs(emulated)] == [int(result.outputs["run-id"])]


def test_a_rerun_reuses_the_first_run_not_a_later_duplicate(emulated, action_env):
    # A duplicate with the same mark (a create that landed late) never started: the job's re-run
    # reused the newest run, started the duplicate and paid for a second evaluation.
    first = gate_step(emulated, action_env)
    (done,) = gate_runs(emulated)
    settings = ("name", "prompt_id", "dataset_id", "judge_model", "temperature", "metric_ids")
    emulated.emulator.create_run(
        {**{key: done[key] for key in settings}, "tag_names": [t["name"] for t in done["tags"]]}
    )
    emulated.emulator.requests.clear()
    again = gate_step(emulated, action_env)
    assert again.code == first.code == 1
    assert again.outputs["run-id"] == first.outputs["run-id"] == str(done["id"])
    assert posts(emulated, r"/generate$") == []


def test_a_pending_run_another_job_created_is_left_to_it(emulated, action_env):
    twin = pending_twin(emulated, action_env)
    emu = emulated.emulator
    emu.land_later(emu.now() + 30.0, lambda: emu.generate(twin))  # its creator starts it
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.stdout
    assert result.outputs["run-id"] == str(twin)
    assert posts(emulated, r"/generate$") == []  # we never sent a second start
    assert [r["status"] for r in gate_runs(emulated)] == ["completed"]


def test_a_pending_run_whose_creator_vanished_is_started_after_the_grace(emulated, action_env):
    twin = pending_twin(emulated, action_env)
    began = emulated.time.now()
    result = gate_step(emulated, action_env)
    assert result.code == 1, result.stdout
    assert result.outputs["run-id"] == str(twin)
    (start,) = posts(emulated, r"/generate$")
    assert start.time - began >= PENDING_GRACE_SECONDS
    assert "Starting another job's run" in result.stdout


def test_a_stuck_reused_run_is_not_waited_on_a_fresh_run_is_started(emulated, action_env):
    # The engine can leave a run `running` for ever with no rows (a lost start job).
    twin = pending_twin(emulated, action_env)
    record = emulated.emulator._runs[twin]
    record.status = "running"  # claimed, never generated: no rows, never settles
    result = gate_step(emulated, action_env, **{"stale-minutes": "1", "timeout-minutes": "5"})
    assert result.code == 1, result.stdout  # measured on the fresh run
    fresh = int(result.outputs["run-id"])
    assert fresh != twin
    assert len(posts(emulated, r"/generate$")) == 1
    assert f"Run {twin} has had no rows for 1 minute (stale-minutes)" in result.summary_text
    assert "a fresh run was started" in result.summary_text
    assert emulated.emulator.get_run(fresh)["name"].endswith(f" fresh-{twin}")


def test_a_stuck_reused_prompt_files_run_is_replaced_by_a_fresh_one(emulated, action_env):
    emulated.emulator.judge = content_judge
    write(action_env, "prompts/support-reply.yml", PASSING)
    first = files_gate(emulated, action_env)
    assert first.code == 0, first.stdout
    (done,) = [r for r in gate_runs(emulated) if r["status"] == "completed"]
    record = emulated.emulator._runs[done["id"]]
    record.status, record.responses = "running", []  # its start job lost: no rows, for ever
    emulated.emulator.requests.clear()
    again = files_gate(emulated, action_env, inputs={"stale-minutes": "1"}, GITHUB_SHA=OTHER_SHA)
    assert again.code == 0, again.stdout
    assert len(posts(emulated, r"/generate$")) == 1
    assert f"Run {done['id']} has had no rows for 1 minute" in again.summary_text
    fresh = [r for r in gate_runs(emulated) if r["name"].endswith(f" fresh-{done['id']}")]
    assert [r["status"] for r in fresh] == ["completed"]
