"""`rebaseline` on a live prompt with no runs captures its first baseline from the given dataset,
metrics and judge, tagged `ckaction-baseline` (never `ckaction-gate`), and the next gate takes it."""

from __future__ import annotations

import json

from ckaction.candidates import BASELINE_TAG
from ckaction.emulator.seed import TEMPLATE_V1
from tests.conftest import ActionEnv, Emulated
from tests.integration.helpers import run_action

ORDER_TEMPLATE = "Summarise order #{{order_number}} for {{customer_message}}"


def test_a_live_prompt_without_runs_gets_its_first_baseline_and_a_gate_finds_it(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu, ids = emulated.emulator, emulated.ids
    live = emu.add_prompt("Order summary", ORDER_TEMPLATE)
    result = run_action(
        emulated,
        action_env,
        {
            "api-url": emulated.url,
            "command": "rebaseline",
            "prompt-id": str(live["id"]),
            "dataset-id": str(ids.dataset_id),
            "metric-ids": ",".join(map(str, ids.metric_ids)),
            "judge-model": ids.judge_model,
        },
    )
    assert result.code == 0, result.stdout
    run = emu.get_run(int(result.outputs["run-id"]))
    assert (run["prompt_id"], run["status"]) == (live["id"], "completed")
    assert [t["name"] for t in run["tags"]] == [BASELINE_TAG]
    assert (run["dataset_id"], run["metric_ids"]) == (ids.dataset_id, ids.metric_ids)
    assert run["judge_model"] == ids.judge_model
    assert result.outputs["baseline-run-id"] == ""
    assert "Captured a fresh baseline" in result.summary_text

    draft = emu.add_prompt(
        "Order summary", ORDER_TEMPLATE + " briefly", family_key=live["family_key"], current=False
    )
    gate = run_action(
        emulated, action_env, {"api-url": emulated.url, "prompt-id": str(draft["id"])}
    )
    assert gate.code == 0, gate.stdout
    assert gate.outputs["baseline-run-id"] == str(run["id"])


def test_the_first_baseline_needs_a_dataset_and_metrics(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu = emulated.emulator
    live = emu.add_prompt("Order summary", ORDER_TEMPLATE)
    result = run_action(
        emulated,
        action_env,
        {"api-url": emulated.url, "command": "rebaseline", "prompt-id": str(live["id"])},
    )
    assert result.code == 2
    assert "first baseline needs dataset-id and metric-ids" in result.summary_text
    assert [r for r in emu.requests if r.method == "POST"] == []


def test_one_prompt_files_eval_gives_the_first_baseline_its_settings(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    emu, ids = emulated.emulator, emulated.ids
    live = emu.add_prompt("Order summary", ORDER_TEMPLATE)
    prompts = action_env.workspace / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "order-summary.yml").write_text(
        "prompt: Order summary\nllm_model: gpt-4o-mini\n"
        f"template: {json.dumps(ORDER_TEMPLATE)}\n"
        f"eval:\n  dataset-id: {ids.dataset_id}\n  metric-ids: {json.dumps(ids.metric_ids)}\n"
        "  judge-model: gpt-4.1\n  temperature: 0.5\n"
    )
    inputs = {"api-url": emulated.url, "command": "rebaseline", "prompt-files": "prompts/*.yml"}
    result = run_action(emulated, action_env, {**inputs, "judge-model": ids.judge_model})
    assert result.code == 0, result.stdout
    run = emu.get_run(int(result.outputs["run-id"]))
    assert run["prompt_id"] == live["id"]
    assert (run["dataset_id"], run["metric_ids"]) == (ids.dataset_id, ids.metric_ids)
    assert (run["judge_model"], run["temperature"]) == (ids.judge_model, 0.5)  # the input wins

    (prompts / "other.yml").write_text("llm_model: gpt-4o-mini\ntemplate: Hi\n")
    two = run_action(emulated, action_env, inputs)
    assert two.code == 2
    assert "matches 2 files; rebaseline takes one prompt file" in two.stdout


def test_rebaseline_of_a_prompt_file_starts_from_the_baseline_its_gate_would_take(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    """A prompt file's gate takes its baseline on the file's `eval:` dataset; rebaseline starts
    from that run too, not from a newer green run on another dataset."""
    emu, ids = emulated.emulator, emulated.ids
    smoke = emu.add_dataset(
        "Smoke tickets", [{"customer_message": "Hi", "order_number": "1", "expected_output": "x"}]
    )
    newer = emu.add_completed_run(
        ids.prompt_v1_id, smoke["id"], ids.metric_ids, judge_model=ids.judge_model
    )
    prompts = action_env.workspace / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "support.yml").write_text(
        f"prompt: Support reply\nllm_model: gpt-4o-mini\ntemplate: {json.dumps(TEMPLATE_V1)}\n"
        f"eval:\n  dataset-id: {ids.dataset_id}\n"
    )
    inputs = {"api-url": emulated.url, "command": "rebaseline", "prompt-files": "prompts/*.yml"}
    result = run_action(emulated, action_env, inputs)
    assert result.code == 0, result.stdout
    assert newer["id"] > ids.baseline_run_id
    assert result.outputs["baseline-run-id"] == str(ids.baseline_run_id)
    assert emu.get_run(int(result.outputs["run-id"]))["dataset_id"] == ids.dataset_id
