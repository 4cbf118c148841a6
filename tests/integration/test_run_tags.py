"""Which runs may be baselines, by their tags, in process through `cli.App` and the emulator's
transport: a rerun copies its source's tags (the engine's `rerun!`), so rebaseline's and calibrate's
reruns get theirs replaced (`ckaction-baseline`, `ckaction-calibrate`), by one rule for every
rebaseline method (the owner's own tags kept, every flow tag replaced); a rerun whose tags cannot be
replaced is deleted; calibrate's and a confirm's runs never become a gate's baseline; cleanup
removes confirm datasets (and their runs) after `keep-days`."""

from __future__ import annotations

import pytest

from ckaction.candidates import BASELINE_TAG
from ckaction.emulator import Fault
from ckaction.emulator.judging import NoisyJudge, ScriptedJudge
from ckaction.runtags import CALIBRATE_TAG, CONFIRM_TAG, derived_tags
from tests.conftest import ActionEnv, Emulated
from tests.integration.helpers import gate_step, run_action


def tags_of(emulated: Emulated, run_id: int) -> list[str]:
    return [tag["name"] for tag in emulated.emulator.get_run(run_id)["tags"]]


def command(emulated: Emulated, env: ActionEnv, name: str, **inputs: str):
    base = {"api-url": emulated.url, "command": name, "prompt-id": str(emulated.ids.prompt_v1_id)}
    return run_action(emulated, env, {**base, **inputs})


def test_a_rebaseline_rerun_keeps_the_owners_tags_and_adds_the_baseline_tag(
    emulated, action_env
) -> None:
    ids = emulated.ids
    assert tags_of(emulated, ids.baseline_run_id) == ["baseline"]  # the seed's own tag
    result = command(emulated, action_env, "rebaseline")
    assert result.code == 0, result.stdout
    assert tags_of(emulated, int(result.outputs["run-id"])) == ["baseline", BASELINE_TAG]


def test_a_rerun_of_a_gate_run_loses_the_gate_tags(emulated, action_env) -> None:
    gate = gate_step(emulated, action_env, **{"prompt-id": str(emulated.ids.prompt_v1_id)})
    gate_run = int(gate.outputs["run-id"])
    assert "ckaction-gate" in tags_of(emulated, gate_run)
    result = command(emulated, action_env, "rebaseline", **{"baseline-run-id": str(gate_run)})
    assert result.code == 0, result.stdout
    assert tags_of(emulated, int(result.outputs["run-id"])) == [BASELINE_TAG]


def test_the_tag_rule_keeps_the_owners_tags_and_replaces_every_flow_tag() -> None:
    source = [
        "team-a",
        "ckaction-gate",
        "ckaction-passed",
        "ckaction-baseline",
        "eu",
        "ckaction-confirm",
    ]
    assert derived_tags(source, CALIBRATE_TAG) == ["team-a", "eu", CALIBRATE_TAG]
    assert derived_tags(["ckaction-baseline", "team-a"], BASELINE_TAG) == ["team-a", BASELINE_TAG]


SOURCE_TAGS = {
    # a rerun or a new run may start from a passed gate run; a regrade only from a baseline of ours
    "rerun": ["team-a", "ckaction-gate", "ckaction-passed"],
    "new-run": ["team-a", "ckaction-gate", "ckaction-passed"],
    "regrade": ["team-a", BASELINE_TAG, CALIBRATE_TAG],
}


@pytest.mark.parametrize("method", sorted(SOURCE_TAGS))
def test_every_rebaseline_method_follows_one_tag_rule(emulated, action_env, method) -> None:
    """The owner's own tags kept, every flow tag replaced by `ckaction-baseline`, whichever way the
    baseline is captured. Fails before the fix: a rerun kept only `ckaction-baseline` (the owner's
    `team-a` lost) and a regrade kept `ckaction-calibrate` (so no gate would take it)."""
    ids = emulated.ids
    source = emulated.emulator.add_completed_run(
        ids.prompt_v1_id,
        ids.dataset_id,
        ids.metric_ids,
        judge_model=ids.judge_model,
        tag_names=SOURCE_TAGS[method],
    )
    result = command(
        emulated,
        action_env,
        "rebaseline",
        **{"baseline-run-id": str(source["id"]), "rebaseline-method": method},
    )
    assert result.code == 0, result.stdout
    assert result.outputs["rebaseline-method"] == method
    assert tags_of(emulated, int(result.outputs["run-id"])) == ["team-a", BASELINE_TAG]


def run_ids(emulated: Emulated) -> set[int]:
    return {run["id"] for run in emulated.emulator.list_runs({"limit": ["100"]}).items}


def retag_refusal(command_name: str) -> Fault:
    """How the tag write fails: refused outright (422, not worth a retry) during calibrate; an
    outage that outlasts the client's retries of the idempotent write during rebaseline."""
    if command_name == "calibrate":
        return Fault("PATCH", r"/runs/\d+$", status=422)
    return Fault("PATCH", r"/runs/\d+$", status=503, times=100)


@pytest.mark.parametrize("name", ["calibrate", "rebaseline"])
def test_a_rerun_that_cannot_be_retagged_is_deleted_never_a_baseline(
    emulated, action_env, name
) -> None:
    """The rerun, which still carries the baseline's copied tags, is deleted and the command stops
    with the error; the next gate takes the seed's baseline. Fails before the fix: the rerun
    stayed, tagged as its source, and became the newest baseline."""
    before = run_ids(emulated)
    refusal = retag_refusal(name)
    emulated.emulator.faults.append(refusal)
    result = command(emulated, action_env, name, **{"calibration-runs": "2"})
    assert refusal.hits >= 1
    assert result.code == 2, result.stdout
    assert run_ids(emulated) == before
    assert "was deleted" in result.summary_text and "could not be replaced" in result.summary_text
    refusal.times = 0
    gate = gate_step(emulated, action_env)
    assert gate.outputs["baseline-run-id"] == str(emulated.ids.baseline_run_id)


def test_a_rerun_tag_write_is_retried_through_a_short_outage(emulated, action_env) -> None:
    """Three 503s on the idempotent tag write are retried; the rerun is kept, retagged."""
    outage = Fault("PATCH", r"/runs/\d+$", status=503, times=3)
    emulated.emulator.faults.append(outage)
    result = command(emulated, action_env, "rebaseline")
    assert outage.hits == 3
    assert result.code == 0, result.stdout
    assert tags_of(emulated, int(result.outputs["run-id"])) == ["baseline", BASELINE_TAG]


def test_a_rerun_that_can_be_neither_retagged_nor_deleted_is_named_in_the_error(
    emulated, action_env
) -> None:
    before = run_ids(emulated)
    emulated.emulator.faults += [
        Fault("PATCH", r"/runs/\d+$", status=422),
        Fault("DELETE", r"/runs/\d+$", status=403),
    ]
    result = command(emulated, action_env, "rebaseline")
    assert result.code == 2, result.stdout
    (rerun,) = run_ids(emulated) - before
    assert f"Delete run {rerun} in CompletionKit" in result.summary_text
    assert "kept the tags it copied from its source (`baseline`)" in result.summary_text


def test_calibrate_reruns_are_tagged_and_never_become_baselines(emulated, action_env) -> None:
    emulated.emulator.judge = NoisyJudge(ScriptedJudge(default=4), spread=1, seed=3)
    result = command(emulated, action_env, "calibrate", **{"calibration-runs": "2"})
    assert result.code == 0, result.stdout
    reruns = result.report["calibration"]["reruns"]
    assert len(reruns) == 2
    # The owner's own tag kept, as for every run made from another (`derived_tags`).
    assert all(tags_of(emulated, run_id) == ["baseline", CALIBRATE_TAG] for run_id in reruns)
    # Both reruns are newer, completed and scored runs of the live prompt; the gate skips them.
    gate = gate_step(emulated, action_env)
    assert gate.outputs["baseline-run-id"] == str(emulated.ids.baseline_run_id)


def confirm_dataset(emulated: Emulated, name: str, *, tagged: bool = True) -> int:
    emu, ids = emulated.emulator, emulated.ids
    dataset = emu.add_dataset(
        name,
        [{"customer_message": "Hello", "order_number": "1"}],
        tag_names=[CONFIRM_TAG] if tagged else [],
    )
    emu.add_completed_run(
        ids.prompt_v1_id,
        dataset["id"],
        ids.metric_ids,
        judge_model=ids.judge_model,
        tag_names=[CONFIRM_TAG],
        name=f"{name} baseline 1/1",
    )
    return int(dataset["id"])


def dataset_ids(emulated: Emulated) -> set[int]:
    return {d["id"] for d in emulated.emulator.list_datasets({"limit": ["100"]}).items}


def test_cleanup_removes_old_confirm_datasets_and_their_runs(emulated, action_env) -> None:
    made = confirm_dataset(emulated, "ckaction confirm 0123456789ab run 7")
    lookalike = confirm_dataset(emulated, "my dataset")  # the tag, not the name
    untagged = confirm_dataset(emulated, "ckaction confirm by hand", tagged=False)
    dry = command(emulated, action_env, "cleanup", **{"keep-days": "0"})
    assert dry.code == 0, dry.stdout
    assert made in dataset_ids(emulated)
    assert f"Would delete confirm dataset {made} " in dry.summary_text
    result = command(emulated, action_env, "cleanup", **{"keep-days": "0", "dry-run": "false"})
    assert result.code == 0, result.stdout
    assert dataset_ids(emulated) == {emulated.ids.dataset_id, lookalike, untagged}
    runs = emulated.emulator.list_runs({"limit": ["100"]}).items
    assert not [run for run in runs if run["dataset_id"] == made]
    assert (
        "Deleted 1 confirm dataset older than 0 days, with its runs." in (result.report["done"][-1])
    )


def test_cleanup_keeps_recent_confirm_datasets(emulated, action_env) -> None:
    made = confirm_dataset(emulated, "ckaction confirm 0123456789ab run 7")
    result = command(emulated, action_env, "cleanup", **{"dry-run": "false"})  # keep-days 30
    assert result.code == 0, result.stdout
    assert made in dataset_ids(emulated)


def test_a_new_baseline_run_from_a_passed_gate_run_keeps_no_flow_tag(emulated, action_env) -> None:
    ids = emulated.ids
    emu = emulated.emulator
    gate_run = emu.add_completed_run(
        ids.prompt_v1_id,
        ids.dataset_id,
        ids.metric_ids,
        judge_model=ids.judge_model,
        tag_names=["ckaction-gate", "ckaction-passed", "team-a"],
    )
    result = command(
        emulated,
        action_env,
        "rebaseline",
        **{"baseline-run-id": str(gate_run["id"]), "judge-model": "gpt-5-judge"},
    )
    assert result.code == 0, result.stdout
    assert tags_of(emulated, int(result.outputs["run-id"])) == ["team-a", BASELINE_TAG]


def test_a_lost_rerun_that_lands_late_is_retagged_never_a_baseline(emulated, action_env) -> None:
    """calibrate's rerun is answered 504 and lands 30 s later, after the read-back gave up and the
    rerun was sent again: the late copy, carrying the baseline's tags, is found once the reruns
    are done and retagged `ckaction-calibrate`; the next gate takes the seed's baseline. Fails
    before the fix: the late copy kept `baseline` alone and became the newest baseline."""
    emu = emulated.emulator
    emu.run_duration = 60.0
    late = Fault("POST", r"/rerun$", status=504, lands_after=30.0)
    emu.faults.append(late)
    before = run_ids(emulated)
    result = command(emulated, action_env, "calibrate", **{"calibration-runs": "1"})
    assert result.code == 0, result.stdout
    made = run_ids(emulated) - before
    assert len(made) == 2  # the resent rerun, and the lost one that landed late
    assert tags_of(emulated, emulated.ids.baseline_run_id) == ["baseline"]  # the source untouched
    (measured,) = result.report["calibration"]["reruns"]
    (landed,) = made - {measured}
    assert "Late rerun retagged" in result.stdout and f"Run {landed}," in result.stdout
    assert all(tags_of(emulated, run_id) == ["baseline", CALIBRATE_TAG] for run_id in made)
    emulated.time.sleep(
        emu.run_duration
    )  # the late copy completes, scored: a baseline if tagged as one
    gate = gate_step(emulated, action_env)
    assert gate.outputs["baseline-run-id"] == str(emulated.ids.baseline_run_id)
