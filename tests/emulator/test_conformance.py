"""The emulator against the engine, behaviour by behaviour (issue 13).

Each test names one thing the real engine does, where its source says so (file in
`homemade-software-inc/completion-kit` and the commit it was read at), and proves over real HTTP
that the emulator does the same. Paths are below `app/` unless they start with `lib/`.

| engine behaviour | source |
|---|---|
| PATCH of a prompt with runs makes and publishes a new version; without runs it edits in place | `controllers/completion_kit/api/v1/prompts_controller.rb` @57e8f90a `update` |
| a check's `check_config` is strong parameters, then `validate_check_config` (kind, keys, rules) | `api/v1/metrics_controller.rb`, `models/completion_kit/metric.rb` @079303e1 |
| each check kind scores as its class does; an unknown kind fails the review | `services/completion_kit/checks/*.rb` @b0592720, `jobs/completion_kit/check_review_job.rb` @079303e1 |
| tags: strong parameters, strip + downcase + uniq, `Tag` validation raising before the record's own | `models/completion_kit/tag.rb`, `models/concerns/completion_kit/taggable.rb` @3c745f05 |
| a run's validation `details` use `Run`'s attribute names | `models/completion_kit/run.rb` @00fc2303 |
| rate limit: 120 a minute per controller and IP, a fixed window, before auth, no Retry-After | `api/v1/base_controller.rb` @65906c2f, `lib/completion_kit.rb` @021e6747 (`api_rate_limit`) |
| the compare's `kind` is the review's metric version's type | `api/v1/runs_controller.rb` @0129ac25 `build_run_comparison`, `models/completion_kit/review.rb` @217205ab `check?`, `run.rb` @135e579b `regrade!` |
| `input_data` is the dataset row's `to_json`, or null for an empty row | `models/completion_kit/run.rb` @135e579b `execute_start!` |
| a refused `generate` sets the run `failed`, and a run failed while running never completes | `models/completion_kit/run.rb` @135e579b `start!` / `fail_with_summary!` |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ckaction.emulator import Emulator, EmulatorServer, JudgeCall, default_judge

MakeRun = Callable[..., dict[str, Any]]

ENGINE_KINDS = (
    "contains, not_contains, equals, regex, valid_json, json_path_equals, length_bounds, no_refusal"
)


def _check(client: httpx.Client, config: Any) -> httpx.Response:
    return client.post(
        "metrics", json={"name": "A check", "metric_type": "check", "check_config": config}
    )


def _scored_check(
    emu: Emulator, client: httpx.Client, clock: Any, config: dict[str, Any], outputs: list[str]
) -> list[bool | None]:
    """`passed` of a check over a judge-only run of `outputs` (the engine's scoring-only run)."""
    metric = _check(client, config)
    assert metric.status_code == 201, metric.text
    dataset = emu.add_dataset(
        "outputs",
        [
            {"q": str(i), "actual_output": text, "expected_output": "OK"}
            for i, text in enumerate(outputs)
        ],
    )
    run = client.post(
        "runs", json={"dataset_id": dataset["id"], "metric_ids": [metric.json()["id"]]}
    ).json()
    assert client.post(f"runs/{run['id']}/generate").status_code == 202
    clock.advance(emu.run_duration)
    rows = client.get(f"runs/{run['id']}/responses").json()
    return [row["reviews"][0]["passed"] for row in rows]


# -- prompts -----------------------------------------------------------------------------------------


def test_patch_on_a_prompt_with_runs_publishes_the_new_version(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any], make_run: MakeRun
) -> None:
    """prompts_controller.rb @57e8f90a `update`: `@prompt.runs.exists?` → `clone_as_new_version`
    then `publish!`; the default, with no switch turned."""
    prompt = basic["prompt"]
    unused = emu.add_prompt("Unused", "Hi {{text}}")
    in_place = client.patch(f"prompts/{unused['id']}", json={"template": "Hello {{text}}"}).json()
    assert (in_place["id"], in_place["version_number"]) == (unused["id"], 1)
    make_run()
    new = client.patch(f"prompts/{prompt['id']}", json={"template": "Answer: {{text}}"}).json()
    assert (new["version_number"], new["current"]) == (2, True)
    assert new["id"] != prompt["id"]
    assert client.get(f"prompts/{prompt['family_key']}").json()["id"] == new["id"]
    assert client.get(f"prompts/{prompt['id']}").json()["current"] is False


# -- check metrics: what is accepted -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "messages"),
    [
        # The keys this project once invented are not permitted: dropped, so no `check_kind`.
        ({"kind": "contains", "value": "x"}, [f"check_kind must be one of {ENGINE_KINDS}"]),
        ({"check_kind": "json_path_equals", "path": "a", "value": 1}, ["json_path is required", "expected is required"]),
        ({"check_kind": "starts_with", "value": "x"}, [f"check_kind must be one of {ENGINE_KINDS}"]),
        (None, ["must be a configuration object"]),
        ("contains", ["must be a configuration object"]),
        ({"check_kind": "contains"}, ["value is required"]),
        ({"check_kind": "contains", "value": "  "}, ["value is required"]),
        ({"check_kind": "regex", "pattern": "(unclosed"}, ["pattern is not a valid regular expression"]),
        ({"check_kind": "length_bounds"}, ["length_bounds requires at least one of min or max"]),
        ({"check_kind": "length_bounds", "min": 9, "max": 3}, ["min must be less than or equal to max"]),
        ({"check_kind": "valid_json", "target": "json_path"}, ["target_path is required when target is json_path"]),
        ({"check_kind": "valid_json", "target": "output"}, ["target must be one of response_text, input_data, json_path"]),
        ({"check_kind": "regex", "pattern": "x", "compare_to": "expected"}, ["compare_to expected only applies to contains, not_contains, or equals"]),
        ({"check_kind": "equals", "value": "x", "compare_to": "gold"}, ["compare_to must be constant or expected"]),
    ],
)  # fmt: skip
def test_check_config_outside_the_engines_rules_is_422_under_check_config(
    client: httpx.Client, config: Any, messages: list[str]
) -> None:
    """metrics_controller.rb `metric_params` permits `check_config: %i[check_kind target
    target_path compare_to value pattern json_path expected expected_path min max case_sensitive
    multiline trim]`; metric.rb @079303e1 `validate_check_config` adds every message to
    `check_config`."""
    refused = _check(client, config)
    assert refused.status_code == 422
    assert refused.json() == {"error": "Validation failed", "details": {"check_config": messages}}


def test_check_config_keeps_only_the_engines_keys(client: httpx.Client) -> None:
    """Strong parameters drop an unknown key silently, and a value that is not a scalar."""
    created = _check(
        client,
        {
            "check_kind": "json_path_equals",
            "json_path": "status",
            "expected": "ok",
            "path": "status",
            "note": "dropped",
            "case_sensitive": ["not", "a", "scalar"],
        },
    )
    assert created.status_code == 201
    assert created.json()["check_config"] == {
        "check_kind": "json_path_equals",
        "json_path": "status",
        "expected": "ok",
    }


def test_json_path_equals_accepts_an_expected_of_null(client: httpx.Client) -> None:
    """`expected` is required by presence of the key (`config.key?("expected")`), not value."""
    created = _check(client, {"check_kind": "json_path_equals", "json_path": "a", "expected": None})
    assert created.status_code == 201


def test_an_llm_judge_does_not_validate_check_config(client: httpx.Client) -> None:
    """`validate :validate_check_config, if: :check?`; a judge's JSON shows no `check_config`."""
    created = client.post(
        "metrics",
        json={"name": "Tone", "instruction": "Rate tone.", "check_config": {"kind": "x"}},
    )
    assert created.status_code == 201
    assert "check_config" not in created.json()


def test_a_metrics_type_locks_once_it_is_attached_to_a_run(
    client: httpx.Client, basic: dict[str, Any], make_run: MakeRun
) -> None:
    """metric.rb `metric_type_immutable_once_in_use` (`RunMetric.exists?` counts)."""
    make_run()
    refused = client.patch(f"metrics/{basic['metric']['id']}", json={"metric_type": "check"})
    assert refused.status_code == 422
    assert refused.json()["details"]["metric_type"] == [
        "cannot change once the metric has been used in a run"
    ]


# -- check metrics: how they score -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "outputs", "passed"),
    [
        ({"check_kind": "contains", "value": "Order"}, ["your ORDER is here", "nothing"], [True, False]),
        ({"check_kind": "contains", "value": "Order", "case_sensitive": True}, ["your ORDER", "Order 1"], [False, True]),
        ({"check_kind": "not_contains", "value": "sorry"}, ["Sorry!", "fine"], [False, True]),
        ({"check_kind": "equals", "value": "ok"}, ["OK", " ok "], [True, False]),
        ({"check_kind": "equals", "value": "ok", "trim": True}, [" ok ", "okay"], [True, False]),
        ({"check_kind": "regex", "pattern": "^#\\d{5}$"}, ["ref\n#12345", "#1234"], [True, False]),
        ({"check_kind": "valid_json"}, ['{"a": 1}', "{a: 1}"], [True, False]),
        # Dotted keys through objects only, no `$.` prefix, Ruby equality (true is not 1).
        ({"check_kind": "json_path_equals", "json_path": "status", "expected": "ok"}, ['{"status": "ok"}', '{"status": "OK"}'], [True, False]),
        ({"check_kind": "json_path_equals", "json_path": "$.status", "expected": "ok"}, ['{"status": "ok"}', "nope"], [False, False]),
        ({"check_kind": "json_path_equals", "json_path": "a.b", "expected": 1}, ['{"a": {"b": 1.0}}', '{"a": {"b": true}}'], [True, False]),
        ({"check_kind": "json_path_equals", "json_path": "items.0", "expected": 1}, ['{"items": [1]}', '{"items": {"0": 1}}'], [False, True]),
        ({"check_kind": "length_bounds", "max": 5}, ["short", "longer"], [True, False]),
        ({"check_kind": "no_refusal"}, ["I'm sorry, I can't help", "Here you go"], [False, True]),
        ({"check_kind": "equals", "compare_to": "expected"}, ["ok", "no"], [True, False]),
        ({"check_kind": "valid_json", "target": "json_path", "target_path": "items.1"}, ['{"items": [0, 1]}', '{"items": [0]}'], [True, False]),
    ],
)  # fmt: skip
def test_each_check_kind_scores_as_the_engine(
    emu: Emulator,
    client: httpx.Client,
    clock: Any,
    config: dict[str, Any],
    outputs: list[str],
    passed: list[bool],
) -> None:
    """checks/{contains,equals,regex,valid_json,json_path_equals,length_bounds,no_refusal}.rb
    @b0592720; target and `compare_to: expected` as check_review_job.rb @079303e1 resolves them
    (`target_resolver.rb` walks arrays, `JsonPathEquals#dig` does not)."""
    assert _scored_check(emu, client, clock, config, outputs) == passed


def test_a_check_of_a_kind_the_engine_does_not_know_fails_never_passes() -> None:
    """check_review_job.rb: `Checks::Registry.fetch(kind)` raises `KeyError` for a stored kind
    the registry lacks, and the job's `rescue_from` records the review `failed`."""
    call = JudgeCall(
        prompt={},
        row={"q": "1"},
        row_index=0,
        metric={"name": "Old", "metric_type": "check", "check_config": {"check_kind": "gone"}},
        metric_version_id=1,
        response_text="anything",
        run={},
    )
    verdict = default_judge(call)
    assert (verdict.failed, verdict.passed) == (True, None)


# -- tags ----------------------------------------------------------------------------------------------


def test_tags_are_stripped_downcased_and_deduplicated(client: httpx.Client) -> None:
    """taggable.rb `tag_names=`: `to_s.strip.downcase`, blanks dropped, `uniq`."""
    created = client.post(
        "prompts",
        json={
            "name": "T",
            "template": "t",
            "llm_model": "m",
            "tag_names": [" CI-Gate ", "ci-gate", "", "Two Words", "x" * 64],
        },
    )
    assert created.status_code == 201
    assert [t["name"] for t in created.json()["tags"]] == ["ci-gate", "two words", "x" * 64]


@pytest.mark.parametrize("bad", ["no/slash", "dot.ted", "x" * 65, "café"])
def test_an_invalid_tag_is_a_422_with_no_details_and_nothing_made(
    client: httpx.Client, bad: str
) -> None:
    """tag.rb: `/\\A[\\w\\s\\-]+\\z/` (ASCII `\\w`), at most 64. `Tag.find_or_create_by!` raises
    `RecordInvalid` while the attributes are assigned; no API controller rescues it, so Rails
    answers 422 itself, before (and without) the record's validation details."""
    refused = client.post(
        "prompts", json={"name": "", "template": "t", "llm_model": "m", "tag_names": ["ok", bad]}
    )
    assert refused.status_code == 422
    assert refused.json() == {"error": "Unprocessable Content"}
    assert client.get("prompts").json() == []


def test_tag_names_that_are_not_an_array_of_scalars_are_ignored(client: httpx.Client) -> None:
    """`permit(tag_names: [])` keeps only an array of scalars: a comma string is dropped whole,
    so the tags a client meant to set silently do not come back."""
    for value in ("a,b", {"a": 1}, [["nested"]]):
        created = client.post(
            "prompts", json={"name": "T", "template": "t", "llm_model": "m", "tag_names": value}
        )
        assert created.status_code == 201
        assert created.json()["tags"] == []


# -- validation details --------------------------------------------------------------------------------


def test_run_validation_details_use_the_runs_attribute_names(
    emu: Emulator, client: httpx.Client, basic: dict[str, Any]
) -> None:
    """run.rb @00fc2303: `dataset_supplies_prompt_variables`, `judge_only_run_supplies_output_column`,
    `dataset_supplies_expected_column`, the numericality of `max_tokens` and `judge_temperature`;
    no rule on `temperature`."""

    def details(body: dict[str, Any]) -> dict[str, list[str]]:
        response = client.post("runs", json=body)
        assert response.status_code == 422
        assert response.json()["error"] == "Validation failed"
        found: dict[str, list[str]] = response.json()["details"]
        return found

    prompt, dataset = basic["prompt"]["id"], basic["dataset"]["id"]
    assert details({}) == {
        "name": ["can't be blank"],
        "dataset_id": ["is required when scoring existing outputs (no prompt)"],
    }
    assert details({"prompt_id": prompt}) == {"dataset_id": ["is required: prompt uses text"]}
    topic = emu.add_prompt("Topic", "About {{topic}}")
    assert details({"prompt_id": topic["id"], "dataset_id": dataset}) == {
        "dataset_id": ["is missing columns required by the prompt: topic"]
    }
    assert details({"dataset_id": dataset}) == {
        "output_column": ['"actual_output" is not a column on dataset "greetings"']
    }
    assert details({"prompt_id": prompt, "dataset_id": dataset, "expected_column": "gold"}) == {
        "expected_column": ['"gold" is not a column on dataset "greetings"']
    }
    assert details({"prompt_id": prompt, "dataset_id": dataset, "judge_temperature": 1.5}) == {
        "judge_temperature": ["must be less than or equal to 1"]
    }
    assert details({"prompt_id": prompt, "dataset_id": dataset, "max_tokens": 0}) == {
        "max_tokens": ["must be greater than 0"]
    }
    unbounded = client.post(
        "runs", json={"prompt_id": prompt, "dataset_id": dataset, "temperature": 3.5}
    )
    assert (unbounded.status_code, unbounded.json()["temperature"]) == (201, 3.5)


# -- rate limit ----------------------------------------------------------------------------------------


def test_the_rate_limit_is_a_fixed_minute_per_controller_that_counts_every_call(
    emu: Emulator, server: EmulatorServer, client: httpx.Client, clock: Any
) -> None:
    """base_controller.rb: `rate_limit to: CompletionKit.config.api_rate_limit (120), within:
    1.minute`, declared before `authenticate_api!`; Rails keys the counter by controller path and
    IP and lets it expire a minute after its first hit, so the window does not roll."""
    assert emu.rate_limit == 120
    emu.rate_limit = 3
    anonymous = httpx.get(server.url + "/runs", verify=False)
    assert anonymous.status_code == 401  # counted all the same
    clock.advance(30.0)
    assert [client.get("runs").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("metrics").status_code == 200  # another controller, another counter
    refused = client.get("runs")
    assert refused.json() == {"error": "Rate limit exceeded"}
    assert "retry-after" not in refused.headers
    clock.advance(
        30.0
    )  # a minute after the first call: a new window, though two calls were 30 s ago
    assert [client.get("runs").status_code for _ in range(4)] == [200, 200, 200, 429]


# -- compare -------------------------------------------------------------------------------------------


def test_the_compare_kind_is_the_reviews_metric_version_type(
    emu: Emulator, client: httpx.Client, clock: Any, basic: dict[str, Any], make_run: MakeRun
) -> None:
    """runs_controller.rb @0129ac25: `kind: anchor.check? ? "check" : "llm_judge"` with
    `Review#check?` = `metric_version&.metric_type == "check"` (review.rb @217205ab); `regrade!`
    (run.rb @135e579b) clears every review's `metric_version_id` until the judge scores it again,
    so a check mid-regrade reads `llm_judge`."""
    runs = [make_run(), make_run()]
    for run in runs:
        client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)

    def kinds() -> dict[str, str]:
        body = client.get(f"runs/{runs[0]['id']}/compare", params={"with": runs[1]["id"]}).json()
        return {e["metric_name"]: e["kind"] for e in body["rows"][0]["per_metric"]}

    assert kinds() == {"Quality": "llm_judge", "Says hello": "check"}
    assert client.post(f"runs/{runs[0]['id']}/regrade").status_code == 202
    client.post(f"runs/{runs[1]['id']}/regrade")
    assert kinds() == {"Quality": "llm_judge", "Says hello": "llm_judge"}
    clock.advance(emu.run_duration)
    assert kinds() == {"Quality": "llm_judge", "Says hello": "check"}


def test_a_deleted_metric_leaves_the_compare(
    emu: Emulator, client: httpx.Client, clock: Any, basic: dict[str, Any], make_run: MakeRun
) -> None:
    """metric.rb: `has_many :reviews, dependent: :nullify`; the compare lists
    `all_reviews.map(&:metric_id).compact`, so a deleted metric's reviews drop out."""
    runs = [make_run(), make_run()]
    for run in runs:
        client.post(f"runs/{run['id']}/generate")
    clock.advance(emu.run_duration)
    assert client.delete(f"metrics/{basic['check']['id']}").status_code == 204
    body = client.get(f"runs/{runs[0]['id']}/compare", params={"with": runs[1]["id"]}).json()
    assert body["metric_ids"] == [basic["metric"]["id"]]


# -- input_data ----------------------------------------------------------------------------------------


def test_input_data_is_the_rows_to_json(emu: Emulator, client: httpx.Client, clock: Any) -> None:
    """run.rb @135e579b `execute_start!`: `input_data: row.empty? ? nil : row.to_json`: compact,
    non-ASCII kept, `<`, `>` and `&` escaped by ActiveSupport; a run with no dataset has one
    empty row, so `null`."""
    dataset = emu.add_dataset("odd", [{"text": "<b>Tom & Jerry</b> café", "n": "1"}])
    with_rows = emu.add_prompt("Rows", "Say {{text}}")
    no_rows = emu.add_prompt("Static", "Say hi")
    made = [
        client.post("runs", json={"prompt_id": with_rows["id"], "dataset_id": dataset["id"]}),
        client.post("runs", json={"prompt_id": no_rows["id"]}),
    ]
    for run in made:
        assert client.post(f"runs/{run.json()['id']}/generate").status_code == 202
    clock.advance(emu.run_duration)
    first, empty = (client.get(f"runs/{r.json()['id']}/responses").json()[0] for r in made)
    assert first["input_data"] == (
        '{"text":"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e café","n":"1"}'
    )
    assert json.loads(first["input_data"]) == {"text": "<b>Tom & Jerry</b> café", "n": "1"}
    assert empty["input_data"] is None


# -- generate ------------------------------------------------------------------------------------------


def test_a_second_generate_fails_the_running_run_for_good(
    emu: Emulator, client: httpx.Client, clock: Any, make_run: MakeRun
) -> None:
    """run.rb @135e579b `start!`: not `pending`/`failed` → `fail_with_summary!`, which
    `update_columns(status: "failed", failure_summary:, error_message:)` before the 422; the jobs
    already queued keep working, but the completion check only acts on running runs."""
    run = make_run()
    assert client.post(f"runs/{run['id']}/generate").status_code == 202
    clock.advance(emu.run_duration / 2)
    second = client.post(f"runs/{run['id']}/generate")
    message = (
        'Cannot start a run in state "running". Use rerun to create a fresh copy, or '
        "retry_failures / regrade to work with the existing responses."
    )
    assert (second.status_code, second.json()) == (422, {"error": message})
    clock.advance(emu.run_duration * 10)
    after = client.get(f"runs/{run['id']}").json()
    assert (after["status"], after["failure_summary"], after["error_message"]) == (
        "failed",
        message,
        message,
    )
