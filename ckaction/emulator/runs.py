"""Runs as records: settings, validation, CRUD and the responses endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ckaction.emulator.catalog import Catalog
from ckaction.emulator.judging import JsonDict, template_variables
from ckaction.emulator.prompts import Prompts
from ckaction.emulator.records import (
    Errors,
    Page,
    Query,
    RunRec,
    as_float,
    as_int,
    first,
    iso_now,
    not_found,
    paginate,
    parse_ident,
)
from ckaction.emulator.run_views import RunViews

DEFAULT_OUTPUT_COLUMN = "actual_output"  # a run without a prompt reads its outputs from here
MAX_JUDGE_TEMPERATURE = 1.0
# The settings a run keeps, copies on rerun and hands to generators and judges.
RUN_SETTINGS = (
    "prompt_id",
    "dataset_id",
    "judge_model",
    "temperature",
    "max_tokens",
    "judge_temperature",
    "output_column",
    "expected_column",
    "metric_ids",
)


class Runs(Catalog, Prompts, RunViews):
    """Runs as records: settings and their validation, create/read/update/delete, and the
    responses a run has revealed so far. Starting a run is `lifecycle.Lifecycle`'s."""

    def _run_settings(
        self, body: Mapping[str, Any], base: Mapping[str, Any]
    ) -> tuple[JsonDict, list[str] | None]:
        """Merge the body into the current settings and validate the result (422 on errors).

        The `details` keys and texts are `Run`'s validations (completion-kit
        `app/models/completion_kit/run.rb` @00fc2303): `name`, `dataset_id` (a prompt's variables;
        a run without a prompt), `output_column`, `expected_column`, `max_tokens`,
        `judge_temperature`. `temperature` has no rule there: any number is taken."""
        tags = self._tag_names_from(body)  # assigned (and refused) before any validation
        errors = Errors()
        values: JsonDict = dict(base)
        if "name" in body:
            name = body["name"]
            if name is not None and not isinstance(name, str):
                errors.add("name", "must be a string")
            values["name"] = name.strip() if isinstance(name, str) and name.strip() else None
        for key in ("prompt_id", "dataset_id"):
            if key in body:
                raw = body[key]
                values[key] = None if raw in (None, "") else as_int(raw)
                if raw not in (None, "") and values[key] is None:
                    errors.add(key.removesuffix("_id"), "must exist")
        prompt = self._prompts.get(values["prompt_id"]) if values["prompt_id"] else None
        dataset = self._datasets.get(values["dataset_id"]) if values["dataset_id"] else None
        if values["prompt_id"] is not None and prompt is None:
            errors.add("prompt", "must exist")
        if values["dataset_id"] is not None and dataset is None:
            errors.add("dataset", "must exist")
        if values["prompt_id"] is None and values["dataset_id"] is None:
            if values.get("name") is None:  # no auto-name without a prompt or a dataset
                errors.add("name", "can't be blank")
            errors.add("dataset_id", "is required when scoring existing outputs (no prompt)")
        if prompt is not None:
            variables = template_variables(prompt.template)
            if variables and values["dataset_id"] is None:
                errors.add("dataset_id", f"is required: prompt uses {', '.join(variables)}")
            elif variables and dataset is not None:
                missing = [v for v in variables if v not in dataset.columns]
                if missing:
                    errors.add(
                        "dataset_id",
                        f"is missing columns required by the prompt: {', '.join(missing)}",
                    )
        if "metric_ids" in body:
            raw_ids = body["metric_ids"]
            if raw_ids is None:
                raw_ids = []
            if not isinstance(raw_ids, list):
                raw_ids = [raw_ids]
            ids: list[int] = []
            unknown: list[str] = []
            for raw in raw_ids:
                metric_id = as_int(raw)
                if metric_id is None or metric_id not in self._metrics:
                    unknown.append(str(raw))
                elif metric_id not in ids:
                    ids.append(metric_id)
            if unknown:
                errors.add("metric_ids", f"include unknown metrics: {', '.join(unknown)}")
            values["metric_ids"] = ids
        for key in ("judge_model", "output_column", "expected_column"):
            if key in body:
                raw = body[key]
                if raw is not None and not isinstance(raw, str):
                    errors.add(key, "must be a string")
                values[key] = raw.strip() if isinstance(raw, str) and raw.strip() else None
        if "temperature" in body:
            temperature = None if body["temperature"] is None else as_float(body["temperature"])
            if body["temperature"] is not None and temperature is None:
                errors.add("temperature", "is not a number")  # unverified: Run has no rule
            values["temperature"] = temperature
        if "judge_temperature" in body:
            raw = body["judge_temperature"]
            judge_temperature = None if raw is None else as_float(raw)
            if raw is not None and judge_temperature is None:
                errors.add("judge_temperature", "is not a number")
            elif (
                judge_temperature is not None
                and not 0 <= judge_temperature <= MAX_JUDGE_TEMPERATURE
            ):
                bound = (
                    "greater than or equal to 0"
                    if judge_temperature < 0
                    else "less than or equal to 1"
                )
                errors.add("judge_temperature", f"must be {bound}")
            values["judge_temperature"] = judge_temperature
        if "max_tokens" in body:
            raw = body["max_tokens"]
            max_tokens = None if raw is None else as_int(raw)
            if raw is not None and (max_tokens is None or max_tokens <= 0):
                errors.add("max_tokens", "must be greater than 0")
            values["max_tokens"] = max_tokens
        # Validated before `replace_metrics!` runs: the metrics the run had (none on create).
        if prompt is None and dataset is not None and not self._reads_only_input_data_ids(base):
            column = values["output_column"] or DEFAULT_OUTPUT_COLUMN
            if column not in dataset.columns:
                errors.add(
                    "output_column", f'"{column}" is not a column on dataset "{dataset.name}"'
                )
        expected = values["expected_column"]
        if expected is not None and dataset is not None and expected not in dataset.columns:
            errors.add(
                "expected_column", f'"{expected}" is not a column on dataset "{dataset.name}"'
            )
        errors.raise_if_any()
        return values, tags

    def _reads_only_input_data_ids(self, values: Mapping[str, Any]) -> bool:
        """`Run#judge_only_input_data_checks?`: every attached metric is a check of `input_data`,
        so a run without a prompt needs no output column."""
        metrics = [self._metrics[m] for m in values["metric_ids"] if m in self._metrics]
        return bool(metrics) and all(
            m.is_check and (m.check_config or {}).get("target") == "input_data" for m in metrics
        )

    def _reads_only_input_data(self, run: RunRec) -> bool:
        return self._reads_only_input_data_ids({"metric_ids": run.metric_ids})

    def _default_run_name(self, prompt_id: int | None, dataset_id: int | None) -> str:
        if prompt_id is not None:
            prompt = self._prompts[prompt_id]
            n = 1 + sum(1 for r in self._runs.values() if r.prompt_id == prompt_id)
            return f"{prompt.name} — v{prompt.version_number} #{n}"
        dataset = self._datasets[dataset_id] if dataset_id is not None else None
        n = 1 + sum(
            1 for r in self._runs.values() if r.prompt_id is None and r.dataset_id == dataset_id
        )
        return f"{dataset.name if dataset else 'Run'} scoring #{n}"

    def _insert_run(self, values: Mapping[str, Any], tag_names: Sequence[str]) -> RunRec:
        stamp = iso_now()
        run = RunRec(
            id=self._next("run"),
            name=values.get("name")
            or self._default_run_name(values["prompt_id"], values["dataset_id"]),
            status="pending",
            prompt_id=values["prompt_id"],
            dataset_id=values["dataset_id"],
            judge_model=values["judge_model"],
            temperature=values["temperature"],
            output_column=values["output_column"],
            expected_column=values["expected_column"],
            max_tokens=values["max_tokens"],
            judge_temperature=values["judge_temperature"],
            metric_ids=list(values["metric_ids"]),
            tag_ids=self._tag_ids(tag_names),
            created_at=stamp,
            updated_at=stamp,
        )
        self._runs[run.id] = run
        return run

    @staticmethod
    def _blank_settings() -> JsonDict:
        return {
            "name": None,
            "prompt_id": None,
            "dataset_id": None,
            "judge_model": None,
            "temperature": None,
            "output_column": None,
            "expected_column": None,
            "max_tokens": None,
            "judge_temperature": 0.0,
            "metric_ids": [],
        }

    def _run_config(self, run: RunRec) -> JsonDict:
        """The run's settings as handed to generators and judges."""
        return {
            "id": run.id,
            "name": run.name,
            "tag_names": self._tag_names(run.tag_ids),
            **{key: getattr(run, key) for key in RUN_SETTINGS},
        }

    # -- endpoints ----------------------------------------------------------------------------------

    def list_runs(self, query: Query | None = None) -> Page:
        """Newest first; filters status, prompt_id, dataset_id, tag[] (OR)."""
        query = query or {}
        with self.lock:
            now = self.clock()
            status = first(query, "status")
            prompt_id = first(query, "prompt_id")
            dataset_id = first(query, "dataset_id")
            wanted = self._tag_filter(query)
            items: list[JsonDict] = []
            for run in sorted(self._runs.values(), key=lambda r: r.id, reverse=True):
                self._settle(run, now)
                if status and run.status != status:
                    continue
                if prompt_id and as_int(prompt_id) != run.prompt_id:
                    continue
                if dataset_id and as_int(dataset_id) != run.dataset_id:
                    continue
                if wanted and not wanted & set(self._tag_names(run.tag_ids)):
                    continue
                items.append(self._run_json(run, now))
            return paginate(items, query)

    def get_run(self, ident: int | str) -> JsonDict:
        with self.lock:
            return self._run_json(self._run(ident), self.clock())

    def create_run(self, body: Mapping[str, Any]) -> JsonDict:
        """201; status pending; does not start."""
        with self.lock:
            values, tags = self._run_settings(body, self._blank_settings())
            run = self._insert_run(values, tags or [])
            return self._run_json(run, self.clock())

    def update_run(self, ident: int | str, body: Mapping[str, Any]) -> JsonDict:
        """Same fields as create; `metric_ids` and `tag_names` are replaced only when present."""
        with self.lock:
            run = self._run(ident)
            base: JsonDict = {"name": run.name, **{k: getattr(run, k) for k in RUN_SETTINGS}}
            values, tags = self._run_settings(body, base)
            run.name = values["name"] or run.name
            for key in RUN_SETTINGS:
                setattr(run, key, values[key])
            if tags is not None:
                run.tag_ids = self._tag_ids(tags)
            run.updated_at = iso_now()
            return self._run_json(run, self.clock())

    def delete_run(self, ident: int | str) -> None:
        with self.lock:
            run = self._run(ident)
            del self._runs[run.id]

    # -- responses ------------------------------------------------------------------------------------

    def list_responses(self, ident: int | str, query: Query | None = None) -> Page:
        """Ordered by id; filters status, min_score/max_score; sort id|score_asc|score_desc;
        `fields` trims keys (`id` always; `reviews.<key>` trims reviews).

        Engine: `app/controllers/completion_kit/api/v1/responses_controller.rb#index` (
        homemade-software-inc/completion-kit @65906c2f: `@run.responses.includes(:reviews)`,
        `status` filter, `paginate(scope.order(:id))`); `fields`, `min_score`/`max_score` and
        `sort` are CHANGELOG 0.28.25 (#160: "comma-separated response keys, `id` always
        included, `reviews.`-prefixed keys trim each nested review"), whose controller is not
        in the readable snapshots; the score order follows `concerns/response_ordering.rb`. An
        engine before 0.28.25 ignores `fields` and sends whole responses."""
        query = query or {}
        with self.lock:
            now = self.clock()
            run = self._run(ident)
            self._settle(run, now)
            items = [self._response_json(r, now) for r in self._visible(run, now)]
            items.sort(key=lambda item: int(item["id"]))
            status = first(query, "status")
            if status:
                items = [i for i in items if i["status"] == status]
            low = as_float(first(query, "min_score"))
            high = as_float(first(query, "max_score"))
            if low is not None or high is not None:
                items = [
                    i
                    for i in items
                    if i["score"] is not None
                    and (low is None or i["score"] >= low)
                    and (high is None or i["score"] <= high)
                ]
            sort = first(query, "sort")
            if sort in ("score_asc", "score_desc"):
                scored = [i for i in items if i["score"] is not None]
                unscored = [i for i in items if i["score"] is None]
                scored.sort(key=lambda i: float(i["score"]), reverse=sort == "score_desc")
                items = scored + unscored
            fields = first(query, "fields")
            if fields:
                items = [_trim(item, fields) for item in items]
            return paginate(items, query)

    def get_response(self, run_ident: int | str, response_ident: int | str) -> JsonDict:
        with self.lock:
            now = self.clock()
            run = self._run(run_ident)
            self._settle(run, now)
            response_id = parse_ident(response_ident)
            for response in self._visible(run, now):
                if response.id == response_id:
                    return self._response_json(response, now)
            raise not_found()


def _trim(item: JsonDict, fields: str) -> JsonDict:
    keys = [k.strip() for k in fields.split(",") if k.strip()]
    top = [k for k in keys if not k.startswith("reviews.")]
    review_keys = [k.removeprefix("reviews.") for k in keys if k.startswith("reviews.")]
    trimmed: JsonDict = {"id": item["id"]}
    for key in top:
        if key in item:
            trimmed[key] = item[key]
    if review_keys:
        trimmed["reviews"] = [
            {k: review[k] for k in ["id", *review_keys] if k in review}
            for review in item.get("reviews", [])
        ]
    return trimmed
