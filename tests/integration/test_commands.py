"""publish and rebaseline, end to end in-process."""

from __future__ import annotations

from tests.integration.helpers import run_action


def test_publish_makes_the_candidate_current(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "publish", "prompt-id": str(ids.prompt_v2_id)},
    )
    assert result.code == 0, result.stdout
    assert result.outputs["prompt-id"] == str(ids.prompt_v2_id)
    assert result.outputs["version-number"] == "2"
    assert emu.get_prompt(ids.family_key)["id"] == ids.prompt_v2_id
    assert "Published prompt" in result.summary_text
    again = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "publish", "prompt-id": str(ids.prompt_v2_id)},
    )
    assert again.code == 0
    assert "already the current version" in again.summary_text
    publishes = [r for r in emu.requests if r.method == "POST" and r.path.endswith("/publish")]
    assert len(publishes) == 1


def test_publish_of_an_unknown_prompt_is_an_error(emulated, action_env):
    result = run_action(
        emulated, action_env, {"api-url": emulated.url, "command": "publish", "prompt-id": "4040"}
    )
    assert result.code == 2
    assert "prompt 4040" in result.summary_text


def test_rebaseline_reruns_the_baseline_and_outputs_the_new_run(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "rebaseline", "prompt-id": str(ids.prompt_v1_id)},
    )
    assert result.code == 0, result.stdout
    new_id = int(result.outputs["run-id"])
    assert result.outputs["baseline-run-id"] == str(ids.baseline_run_id)
    assert emu.get_run(new_id)["status"] == "completed"
    assert [r.path for r in emu.requests if r.method == "POST"] == [
        f"/runs/{ids.baseline_run_id}/rerun"
    ]
    # The next gate compares with the fresh baseline: it is the newest green run of the live prompt.
    gate = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(ids.prompt_v2_id)}
    )
    assert gate.outputs["baseline-run-id"] == str(new_id)


def test_rebaseline_with_a_new_judge_model_creates_a_run_with_it(emulated, action_env):
    emu, ids = emulated.emulator, emulated.ids
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "command": "rebaseline",
            "baseline-run-id": str(ids.baseline_run_id),
            "judge-model": "gpt-5-judge",
        },
    )
    assert result.code == 0, result.stdout
    run = emu.get_run(int(result.outputs["run-id"]))
    assert run["judge_model"] == "gpt-5-judge"
    assert run["prompt_id"] == ids.prompt_v1_id
    assert not any(r.path.endswith("/rerun") for r in emu.requests)
