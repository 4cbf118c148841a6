"""In-memory CompletionKit: business rules and JSON serialization over the records. No HTTP.

Every public method takes the state lock, reads the injectable clock once, and returns JSON-ready
values exactly as the REST API v1 would serialize them (see /work/shared/completionkit-api.md).
Errors are raised as `ApiError(status, error, details)`; the HTTP layer renders them.

Run lifecycle: `generate` computes every response and review up front (calling the generator and
the judge), but what reads reveal is governed by the clock. Rows land `start_delay` seconds after
generate (until then `progress_total` is 0); response i is generated at
`landed + run_duration * (i + 1) / n / 2` and judged at `landed + run_duration * (i + 1) / n`
(`pace.row_times`; `pace_jitter` makes rows finish out of step); the run settles (completed, or
failed when every response failed) when its last row is judged, `landed + run_duration` at a steady
pace. State is computed lazily on each read; there are no background threads.
"""

from __future__ import annotations

import hmac
import json
import random
import re
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from ckaction.emulator.faults import Fault, RequestRecord
from ckaction.emulator.judging import (
    GenerationError,
    Generator,
    JsonDict,
    Judge,
    JudgeCall,
    Verdict,
    clamp_score,
    default_generator,
    default_judge,
    template_variables,
)
from ckaction.emulator.pace import RowTimes, row_times
from ckaction.emulator.records import (
    ApiError,
    DatasetRec,
    Errors,
    MetricRec,
    Page,
    PromptRec,
    Query,
    ResponseRec,
    ReviewRec,
    RunRec,
    TagRec,
    as_float,
    as_int,
    build_csv,
    decimal_round,
    first,
    iso_now,
    mean,
    not_found,
    paginate,
    parse_csv,
    parse_ident,
    score_string,
    slugify,
)


class _HasTags(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def tag_ids(self) -> list[int]: ...


Tagged = TypeVar("Tagged", bound=_HasTags)

DEFAULT_OUTPUT_COLUMN = "actual_output"
DEFAULT_EXPECTED_COLUMN = "expected_output"
LOW_SCORE_THRESHOLD = Decimal(3)  # medium_quality_threshold
TAG_COLORS = ("#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777")
# Substrings of model names known to be unable to generate text (CODE PROMPT validation).
UNAVAILABLE_MODEL_MARKERS = ("embedding", "whisper", "tts-", "dall-e", "moderation")

CANNOT_START = (
    'Cannot start a run in state "{state}". Use rerun to create a fresh copy, or retry_failures / '
    "regrade to work with the existing responses."
)
JUDGE_DRIFT = (
    "Judge has changed since this run executed. Retry would mix versions in the same run; use "
    "POST /api/v1/runs/:id/rerun instead."
)
NOTHING_TO_REGRADE = (
    "Nothing to re-grade. The run has no succeeded responses or no metrics attached."
)
OTHER_RUN_NOT_FOUND = "Other run not found. Pass ?with=<run_id>."


_RUN_SETTINGS = (
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


# -- the emulator -----------------------------------------------------------------------------------


class Emulator:
    """All of one org's state plus the knobs tests turn. Thread-safe (one re-entrant lock)."""

    def __init__(
        self,
        token: str | None = "ck-test-token",  # noqa: S107 - the emulator's fixed test token
        org: str = "acme",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.org = org
        self.clock = clock
        self.run_duration: float = 1.0
        self.start_delay: float = 0.0
        self.pace_jitter: float = 0.0  # row-to-row spread of finish times, in row intervals
        self.pace_seed: int = 0
        self.rate_limit: int | None = 120
        self.rate_window: float = 60.0
        self.prompt_patch_publishes: bool = False
        self.max_upload_bytes: int = 25 * 1024 * 1024
        self.judge: Judge = default_judge
        self.generator: Generator = default_generator
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.errors: list[str] = []  # tracebacks of unexpected exceptions (500s, judge crashes)
        self.lock = threading.RLock()
        self._tags: dict[int, TagRec] = {}
        self._metrics: dict[int, MetricRec] = {}
        self._datasets: dict[int, DatasetRec] = {}
        self._prompts: dict[int, PromptRec] = {}
        self._runs: dict[int, RunRec] = {}
        self._sequences: dict[str, int] = {}
        self._hits: dict[str, deque[float]] = {}

    @property
    def api_root_path(self) -> str:
        return f"/orgs/{self.org}/api/v1"

    # -- plumbing for the HTTP layer -------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> None:
        if not self.token:
            raise ApiError(401, "API token not configured")
        expected = f"Bearer {self.token}".encode()
        if not authorization or not hmac.compare_digest(authorization.encode(), expected):
            raise ApiError(401, "Unauthorized")

    def admit(self, client: str) -> bool:
        """Rolling-window rate limit per client; a refused request does not spend budget."""
        with self.lock:
            if self.rate_limit is None:
                return True
            now = self.clock()
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.rate_window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                return False
            hits.append(now)
            return True

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    fault.hits += 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def record(self, request: RequestRecord) -> None:
        with self.lock:
            self.requests.append(request)

    def now(self) -> float:
        return self.clock()

    def _next(self, table: str) -> int:
        value = self._sequences.get(table, 0) + 1
        self._sequences[table] = value
        return value

    def note_error(self) -> None:
        self.errors.append(traceback.format_exc())

    # -- tags ----------------------------------------------------------------------------------------

    def _tag_ids(self, names: Iterable[str]) -> list[int]:
        ids: list[int] = []
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            tag = next((t for t in self._tags.values() if t.name == name), None)
            if tag is None:
                stamp = iso_now()
                tag_id = self._next("tag")
                color = TAG_COLORS[(tag_id - 1) % len(TAG_COLORS)]
                tag = TagRec(tag_id, name, color, stamp, stamp)
                self._tags[tag_id] = tag
            if tag.id not in ids:
                ids.append(tag.id)
        return ids

    def _tags_json(self, tag_ids: Sequence[int]) -> list[JsonDict]:
        return [self._tags[i].to_json() for i in tag_ids if i in self._tags]

    def _tag_names(self, tag_ids: Sequence[int]) -> list[str]:
        return [self._tags[i].name for i in tag_ids if i in self._tags]

    @staticmethod
    def _tag_names_from(body: Mapping[str, Any], errors: Errors) -> list[str] | None:
        if "tag_names" not in body:
            return None
        value = body["tag_names"]
        if value is None:
            return []
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        errors.add("tag_names", "must be an array of strings")
        return None

    @staticmethod
    def _tag_filter(query: Query) -> set[str]:
        return {v for key in ("tag[]", "tag") for v in query.get(key, []) if v}

    def _drop_runs(self, doomed: Callable[[RunRec], bool]) -> None:
        """The engine's cascade: deleting a prompt version or a dataset deletes its runs."""
        for run_id in [run.id for run in self._runs.values() if doomed(run)]:
            del self._runs[run_id]

    def _list_tagged(
        self, records: Mapping[int, Tagged], to_json: Callable[[Tagged], JsonDict], query: Query
    ) -> Page:
        """An index endpoint: newest first, `tag[]` OR-ed, paged."""
        with self.lock:
            wanted = self._tag_filter(query)
            items = [
                to_json(record)
                for record in sorted(records.values(), key=lambda r: r.id, reverse=True)
                if not wanted or wanted & set(self._tag_names(record.tag_ids))
            ]
            return paginate(items, query)

    # -- metrics -------------------------------------------------------------------------------------

    def _metric(self, ident: int | str) -> MetricRec:
        metric_id = parse_ident(ident)
        if metric_id is None or metric_id not in self._metrics:
            raise not_found()
        return self._metrics[metric_id]

    def _metric_json(self, metric: MetricRec) -> JsonDict:
        data: JsonDict = {
            "id": metric.id,
            "name": metric.name,
            "key": metric.key,
            "metric_type": metric.metric_type,
            "created_at": metric.created_at,
            "updated_at": metric.updated_at,
            "tags": self._tags_json(metric.tag_ids),
        }
        if metric.is_check:
            data["check_config"] = metric.check_config
        else:
            data["instruction"] = metric.instruction
            data["rubric_bands"] = metric.rubric_bands
        return data

    @staticmethod
    def _rubric_bands(value: Any, errors: Errors) -> list[JsonDict]:
        bands: dict[int, str] = {}
        if value is not None:
            if not isinstance(value, list):
                errors.add("rubric_bands", "must be an array of {stars, description}")
                value = []
            for band in value:
                stars = as_int(band.get("stars")) if isinstance(band, dict) else None
                if stars is None or not 1 <= stars <= 5:
                    errors.add("rubric_bands", "stars must be 1..5")
                    continue
                bands[stars] = str(band.get("description") or "")
        return [{"stars": s, "description": bands.get(s, "")} for s in range(1, 6)]

    def _metric_fields(
        self, body: Mapping[str, Any], metric: MetricRec | None
    ) -> tuple[JsonDict, list[str] | None]:
        errors = Errors()
        values: JsonDict = {}
        name = body.get("name", metric.name if metric else None)
        if not isinstance(name, str) or not name.strip():
            errors.add("name", "can't be blank")
        values["name"] = name
        metric_type = body.get("metric_type", metric.metric_type if metric else "llm_judge")
        if metric_type in (None, ""):
            metric_type = "llm_judge"
        if metric_type not in ("llm_judge", "check"):
            errors.add("metric_type", "is not included in the list")
        if metric and metric_type != metric.metric_type and self._metric_used(metric.id):
            errors.add("metric_type", "can't be changed once the metric has been used")
        values["metric_type"] = metric_type
        instruction = body.get("instruction", metric.instruction if metric else None)
        if instruction is not None and not isinstance(instruction, str):
            errors.add("instruction", "must be a string")
        if metric_type == "llm_judge" and not (
            isinstance(instruction, str) and instruction.strip()
        ):
            errors.add("instruction", "can't be blank")
        values["instruction"] = instruction
        if "rubric_bands" in body or metric is None or metric.rubric_bands is None:
            values["rubric_bands"] = self._rubric_bands(body.get("rubric_bands"), errors)
        else:
            values["rubric_bands"] = metric.rubric_bands
        check_config = body.get("check_config", metric.check_config if metric else None)
        if check_config is not None and not isinstance(check_config, dict):
            errors.add("check_config", "must be an object")
        values["check_config"] = check_config
        tags = self._tag_names_from(body, errors)
        errors.raise_if_any()
        return values, tags

    def _metric_used(self, metric_id: int) -> bool:
        return any(
            rv.metric_id == metric_id
            for run in self._runs.values()
            for resp in run.responses
            for rv in resp.reviews
        )

    def list_metrics(self, query: Query | None = None) -> Page:
        return self._list_tagged(self._metrics, self._metric_json, query or {})

    def get_metric(self, ident: int | str) -> JsonDict:
        with self.lock:
            return self._metric_json(self._metric(ident))

    def create_metric(self, body: Mapping[str, Any]) -> JsonDict:
        with self.lock:
            values, tags = self._metric_fields(body, None)
            stamp = iso_now()
            name = str(values["name"]).strip()
            metric = MetricRec(
                id=self._next("metric"),
                name=name,
                key=re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"),
                metric_type=str(values["metric_type"]),
                instruction=values["instruction"],
                rubric_bands=values["rubric_bands"],
                check_config=values["check_config"],
                tag_ids=self._tag_ids(tags or []),
                created_at=stamp,
                updated_at=stamp,
                versions=[self._next("metric_version")],
            )
            self._metrics[metric.id] = metric
            return self._metric_json(metric)

    def update_metric(self, ident: int | str, body: Mapping[str, Any]) -> JsonDict:
        """Edits in place; a changed instruction, rubric or check config publishes a new version."""
        with self.lock:
            metric = self._metric(ident)
            values, tags = self._metric_fields(body, metric)
            judged_content = (metric.instruction, metric.rubric_bands, metric.check_config)
            metric.name = str(values["name"]).strip()
            metric.metric_type = str(values["metric_type"])
            metric.instruction = values["instruction"]
            metric.rubric_bands = values["rubric_bands"]
            metric.check_config = values["check_config"]
            if tags is not None:
                metric.tag_ids = self._tag_ids(tags)
            if judged_content != (metric.instruction, metric.rubric_bands, metric.check_config):
                metric.versions.append(self._next("metric_version"))
            metric.updated_at = iso_now()
            return self._metric_json(metric)

    def delete_metric(self, ident: int | str) -> None:
        with self.lock:
            metric = self._metric(ident)
            del self._metrics[metric.id]
            for run in self._runs.values():
                run.metric_ids = [m for m in run.metric_ids if m != metric.id]

    def add_metric(
        self,
        name: str,
        metric_type: str = "llm_judge",
        instruction: str | None = None,
        *,
        rubric_bands: list[JsonDict] | None = None,
        check_config: JsonDict | None = None,
        tag_names: Sequence[str] = (),
    ) -> JsonDict:
        """Create a metric (an LLM judge gets a default instruction when none is given)."""
        if metric_type == "llm_judge" and instruction is None:
            instruction = f"Rate the {name.lower()} of the response from 1 to 5."
        body: JsonDict = {"name": name, "metric_type": metric_type, "tag_names": list(tag_names)}
        if instruction is not None:
            body["instruction"] = instruction
        if rubric_bands is not None:
            body["rubric_bands"] = rubric_bands
        if check_config is not None:
            body["check_config"] = check_config
        return self.create_metric(body)

    def bump_metric_version(self, metric_id: int) -> int:
        """Publish a new version of a metric; later reviews record it. Returns the version id."""
        with self.lock:
            metric = self._metric(metric_id)
            metric.versions.append(self._next("metric_version"))
            metric.updated_at = iso_now()
            return metric.current_version_id

    def metric_version_id(self, metric_id: int) -> int:
        """The metric's current (published) version id."""
        with self.lock:
            return self._metric(metric_id).current_version_id

    # -- datasets ------------------------------------------------------------------------------------

    def _dataset(self, ident: int | str) -> DatasetRec:
        dataset_id = parse_ident(ident)
        if dataset_id is None or dataset_id not in self._datasets:
            raise not_found()
        return self._datasets[dataset_id]

    def _dataset_json(self, dataset: DatasetRec) -> JsonDict:
        return {
            "id": dataset.id,
            "name": dataset.name,
            "csv_data": dataset.csv_data,
            "created_at": dataset.created_at,
            "updated_at": dataset.updated_at,
            "tags": self._tags_json(dataset.tag_ids),
        }

    def _dataset_fields(
        self, body: Mapping[str, Any], dataset: DatasetRec | None
    ) -> tuple[str, str, list[str] | None]:
        errors = Errors()
        name = body.get("name", dataset.name if dataset else None)
        if not isinstance(name, str) or not name.strip():
            errors.add("name", "can't be blank")
        csv_data = body.get("csv_data", dataset.csv_data if dataset else None)
        if not isinstance(csv_data, str) or not csv_data.strip():
            errors.add("csv_data", "can't be blank")
        elif len(csv_data.encode()) > self.max_upload_bytes:
            limit_mb = self.max_upload_bytes // (1024 * 1024)
            raise ApiError(413, f"CSV is larger than the {limit_mb} MB upload limit")
        elif not parse_csv(csv_data)[0]:
            errors.add("csv_data", "must start with a header row")
        tags = self._tag_names_from(body, errors)
        errors.raise_if_any()
        return str(name).strip(), str(csv_data), tags

    def list_datasets(self, query: Query | None = None) -> Page:
        return self._list_tagged(self._datasets, self._dataset_json, query or {})

    def get_dataset(self, ident: int | str) -> JsonDict:
        with self.lock:
            return self._dataset_json(self._dataset(ident))

    def create_dataset(self, body: Mapping[str, Any]) -> JsonDict:
        with self.lock:
            name, csv_data, tags = self._dataset_fields(body, None)
            columns, rows = parse_csv(csv_data)
            stamp = iso_now()
            dataset = DatasetRec(
                id=self._next("dataset"),
                name=name,
                csv_data=csv_data,
                columns=columns,
                rows=rows,
                tag_ids=self._tag_ids(tags or []),
                created_at=stamp,
                updated_at=stamp,
            )
            self._datasets[dataset.id] = dataset
            return self._dataset_json(dataset)

    def update_dataset(self, ident: int | str, body: Mapping[str, Any]) -> JsonDict:
        with self.lock:
            dataset = self._dataset(ident)
            name, csv_data, tags = self._dataset_fields(body, dataset)
            dataset.name = name
            if csv_data != dataset.csv_data:
                dataset.csv_data = csv_data
                dataset.columns, dataset.rows = parse_csv(csv_data)
            if tags is not None:
                dataset.tag_ids = self._tag_ids(tags)
            dataset.updated_at = iso_now()
            return self._dataset_json(dataset)

    def delete_dataset(self, ident: int | str) -> None:
        """Deletes the dataset and, like the engine, its runs."""
        with self.lock:
            dataset = self._dataset(ident)
            del self._datasets[dataset.id]
            self._drop_runs(lambda run: run.dataset_id == dataset.id)

    def add_dataset(
        self, name: str, rows: Sequence[Mapping[str, Any]], *, tag_names: Sequence[str] = ()
    ) -> JsonDict:
        """Create a dataset from row dicts (columns in first-appearance order)."""
        csv_data, _ = build_csv(rows)
        return self.create_dataset(
            {"name": name, "csv_data": csv_data, "tag_names": list(tag_names)}
        )

    # -- prompts -------------------------------------------------------------------------------------

    def _prompt(self, ident: int | str) -> PromptRec:
        """Numeric id → that row; else family_key, exact name, then slug among current versions."""
        prompt_id = parse_ident(ident)
        if prompt_id is not None:
            if prompt_id in self._prompts:
                return self._prompts[prompt_id]
            raise not_found()
        key = str(ident)
        current = [p for p in sorted(self._prompts.values(), key=lambda p: p.id) if p.current]
        for matches in (
            lambda p: p.family_key == key,
            lambda p: p.name == key,
            lambda p: slugify(p.name) == key,
        ):
            found = next((p for p in current if matches(p)), None)
            if found is not None:
                return found
        raise not_found()

    def _prompt_json(self, prompt: PromptRec) -> JsonDict:
        return {
            "id": prompt.id,
            "name": prompt.name,
            "description": prompt.description,
            "template": prompt.template,
            "llm_model": prompt.llm_model,
            "family_key": prompt.family_key,
            "version_number": prompt.version_number,
            "current": prompt.current,
            "created_at": prompt.created_at,
            "updated_at": prompt.updated_at,
            "tags": self._tags_json(prompt.tag_ids),
        }

    def _prompt_fields(self, body: Mapping[str, Any], prompt: PromptRec | None) -> JsonDict:
        errors = Errors()
        values: JsonDict = {}
        for key in ("name", "template", "llm_model"):
            value = body.get(key, getattr(prompt, key) if prompt else None)
            if not isinstance(value, str) or not value.strip():
                errors.add(key, "can't be blank")
            values[key] = value
        model = values["llm_model"]
        if isinstance(model, str) and any(m in model.lower() for m in UNAVAILABLE_MODEL_MARKERS):
            errors.add("llm_model", "is not available for generating responses")
        description = body.get("description", prompt.description if prompt else None)
        if description is not None and not isinstance(description, str):
            errors.add("description", "must be a string")
        values["description"] = description
        values["tag_names"] = self._tag_names_from(body, errors)
        errors.raise_if_any()
        values["name"] = str(values["name"]).strip()
        return values

    def _publish(self, prompt: PromptRec) -> None:
        stamp = iso_now()
        for other in self._prompts.values():
            if other.family_key == prompt.family_key and other.id != prompt.id and other.current:
                other.current = False
                other.updated_at = stamp
        prompt.current = True
        prompt.published_at = stamp
        prompt.updated_at = stamp

    def _new_prompt(
        self, values: Mapping[str, Any], family_key: str | None, current: bool
    ) -> PromptRec:
        family = family_key or str(uuid.uuid4())
        versions = [p.version_number for p in self._prompts.values() if p.family_key == family]
        stamp = iso_now()
        prompt = PromptRec(
            id=self._next("prompt"),
            name=str(values["name"]),
            description=values.get("description"),
            template=str(values["template"]),
            llm_model=str(values["llm_model"]),
            family_key=family,
            version_number=max(versions, default=0) + 1,
            current=False,
            tag_ids=self._tag_ids(values.get("tag_names") or []),
            created_at=stamp,
            updated_at=stamp,
        )
        self._prompts[prompt.id] = prompt
        if current:
            self._publish(prompt)
        return prompt

    def list_prompts(self, query: Query | None = None) -> Page:
        return self._list_tagged(self._prompts, self._prompt_json, query or {})

    def get_prompt(self, ident: int | str) -> JsonDict:
        with self.lock:
            return self._prompt_json(self._prompt(ident))

    def create_prompt(self, body: Mapping[str, Any]) -> JsonDict:
        """A new family: version_number 1, current true."""
        with self.lock:
            values = self._prompt_fields(body, None)
            return self._prompt_json(self._new_prompt(values, None, current=True))

    def update_prompt(self, ident: int | str, body: Mapping[str, Any]) -> JsonDict:
        """In place, unless the row has runs and the template or model changes: then a new version
        row of the same family, a draft (`current: false`) unless `prompt_patch_publishes`."""
        with self.lock:
            prompt = self._prompt(ident)
            values = self._prompt_fields(body, prompt)
            has_runs = any(r.prompt_id == prompt.id for r in self._runs.values())
            content_changed = (values["template"], values["llm_model"]) != (
                prompt.template,
                prompt.llm_model,
            )
            if has_runs and content_changed:
                if values["tag_names"] is None:
                    values["tag_names"] = self._tag_names(prompt.tag_ids)
                new = self._new_prompt(
                    values, prompt.family_key, current=self.prompt_patch_publishes
                )
                return self._prompt_json(new)
            prompt.name = str(values["name"])
            prompt.template = str(values["template"])
            prompt.llm_model = str(values["llm_model"])
            prompt.description = values["description"]
            if values["tag_names"] is not None:
                prompt.tag_ids = self._tag_ids(values["tag_names"])
            prompt.updated_at = iso_now()
            return self._prompt_json(prompt)

    def publish_prompt(self, ident: int | str) -> JsonDict:
        with self.lock:
            prompt = self._prompt(ident)
            self._publish(prompt)
            return self._prompt_json(prompt)

    def delete_prompt(self, ident: int | str) -> None:
        """Deletes that version row and its runs."""
        with self.lock:
            prompt = self._prompt(ident)
            del self._prompts[prompt.id]
            self._drop_runs(lambda run: run.prompt_id == prompt.id)

    def add_prompt(
        self,
        name: str,
        template: str,
        llm_model: str = "gpt-4o-mini",
        family_key: str | None = None,
        current: bool = True,
        *,
        description: str | None = None,
        tag_names: Sequence[str] = (),
    ) -> JsonDict:
        """Create a prompt version; `family_key` None starts a new family. version_number is auto."""
        body: JsonDict = {
            "name": name,
            "template": template,
            "llm_model": llm_model,
            "description": description,
            "tag_names": list(tag_names),
        }
        with self.lock:
            values = self._prompt_fields(body, None)
            return self._prompt_json(self._new_prompt(values, family_key, current=current))

    # -- runs: settings and validation --------------------------------------------------------------

    def _run(self, ident: int | str) -> RunRec:
        run_id = parse_ident(ident)
        if run_id is None or run_id not in self._runs:
            raise not_found()
        return self._runs[run_id]

    def _run_settings(
        self, body: Mapping[str, Any], base: Mapping[str, Any]
    ) -> tuple[JsonDict, list[str] | None]:
        """Merge the body into the current settings and validate the result (422 on errors)."""
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
            errors.add("base", "A run needs a prompt, a dataset, or both")
        if prompt is not None:
            variables = template_variables(prompt.template)
            if variables and values["dataset_id"] is None:
                errors.add(
                    "dataset", f"is required by the prompt's variables: {', '.join(variables)}"
                )
            elif variables and dataset is not None:
                missing = [v for v in variables if v not in dataset.columns]
                if missing:
                    errors.add(
                        "dataset",
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
                errors.add("temperature", "is not a number")
            elif temperature is not None and not 0 <= temperature <= 2:
                errors.add("temperature", "must be between 0 and 2")
            values["temperature"] = temperature
        if "judge_temperature" in body:
            raw = body["judge_temperature"]
            judge_temperature = None if raw is None else as_float(raw)
            if raw is not None and judge_temperature is None:
                errors.add("judge_temperature", "is not a number")
            elif judge_temperature is not None and not 0 <= judge_temperature <= 1:
                errors.add("judge_temperature", "must be between 0 and 1")
            values["judge_temperature"] = judge_temperature
        if "max_tokens" in body:
            raw = body["max_tokens"]
            max_tokens = None if raw is None else as_int(raw)
            if raw is not None and (max_tokens is None or max_tokens <= 0):
                errors.add("max_tokens", "must be greater than 0")
            values["max_tokens"] = max_tokens
        expected = values["expected_column"]
        if expected is not None and (dataset is None or expected not in dataset.columns):
            errors.add("expected_column", "is not a column in the dataset")
        tags = self._tag_names_from(body, errors)
        errors.raise_if_any()
        return values, tags

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
            **{key: getattr(run, key) for key in _RUN_SETTINGS},
        }

    # -- runs: lifecycle ------------------------------------------------------------------------------

    def _fail_with_summary(self, run: RunRec, message: str) -> ApiError:
        """The engine's `fail_with_summary!`: the run becomes failed and the 422 carries the text."""
        run.status = "failed"
        run.failure_summary = message
        run.error_message = message
        run.ends_at = None
        run.updated_at = iso_now()
        return ApiError(422, message)

    def _row_times(self, run: RunRec, count: int, duration: float, start: float) -> RowTimes:
        """When each of `count` rows finishes. A jittered pace is drawn from `pace_seed`, so two
        runs of the same size and length started under one seed keep the same pace."""
        rng = random.Random(f"{self.pace_seed}:{count}:{duration}")
        return row_times(count, duration, start, jitter=self.pace_jitter, rng=rng)

    def _gradable(self, run: RunRec) -> list[MetricRec]:
        """Checks always; LLM-judge metrics only when the run has a judge_model."""
        metrics = [self._metrics[m] for m in run.metric_ids if m in self._metrics]
        return [m for m in metrics if m.is_check or run.judge_model]

    def _start(self, run: RunRec, now: float, *, instant: bool = False) -> None:
        if run.status not in ("pending", "failed"):
            raise self._fail_with_summary(run, CANNOT_START.format(state=run.status))
        dataset = self._datasets.get(run.dataset_id) if run.dataset_id is not None else None
        prompt = self._prompts.get(run.prompt_id) if run.prompt_id is not None else None
        rows: list[dict[str, str]]
        if dataset is None:
            rows = [{}]  # a prompt without variables and without a dataset: one response
        else:
            rows = [dict(row) for row in dataset.rows]
            if not rows:
                raise self._fail_with_summary(run, "Dataset has no rows")
        output_column = run.output_column or DEFAULT_OUTPUT_COLUMN
        if prompt is None and dataset is not None and output_column not in dataset.columns:
            raise self._fail_with_summary(run, f'Dataset has no "{output_column}" column')

        delay = 0.0 if instant else max(self.start_delay, 0.0)
        duration = 0.0 if instant else max(self.run_duration, 0.0)
        landed = now + delay
        prompt_json = self._prompt_json(prompt) if prompt else {}
        config = self._run_config(run)
        gradable = self._gradable(run)
        expected_column = run.expected_column or DEFAULT_EXPECTED_COLUMN
        count = len(rows)
        times = self._row_times(run, count, duration, landed)
        stamp = iso_now()
        run.responses = []
        for index, row in enumerate(rows):
            response = ResponseRec(
                id=self._next("response"),
                run_id=run.id,
                row_index=index,
                row=row,
                input_data=json.dumps(row, ensure_ascii=False, separators=(",", ":")),
                expected_output=row.get(expected_column),
                created_at=stamp,
                status="pending",
                response_text=None,
                error=None,
                attempts=0,
                landed_at=landed,
                gen_at=times.generated[index],
            )
            self._produce(response, prompt, prompt_json, output_column)
            judge_at = times.judged[index]
            if response.status == "succeeded":
                response.reviews = [
                    self._judge(response, metric, prompt_json, config, judge_at)
                    for metric in gradable
                ]
            run.responses.append(response)
        run.status = "running"
        run.failure_summary = None
        run.error_message = None
        run.ends_at = times.ends
        run.updated_at = stamp

    def _produce(
        self,
        response: ResponseRec,
        prompt: PromptRec | None,
        prompt_json: JsonDict,
        output_column: str,
    ) -> None:
        """Generate (or, judge-only, read) the response text now; failures become `error`."""
        response.attempts += 1
        response.error = None
        if prompt is None:
            response.status = "succeeded"
            response.response_text = response.row.get(output_column, "")
            return
        try:
            text = self.generator(prompt_json, dict(response.row))
        except GenerationError as exc:
            response.status = "failed"
            response.response_text = None
            response.error = {
                "provider": exc.provider,
                "class": exc.error_class,
                "status": exc.status,
                "message": exc.message,
            }
            return
        except Exception as exc:
            self.note_error()
            response.status = "failed"
            response.response_text = None
            response.error = {
                "provider": None,
                "class": type(exc).__name__,
                "status": None,
                "message": str(exc),
            }
            return
        response.status = "succeeded"
        response.response_text = str(text)

    def _judge(
        self,
        response: ResponseRec,
        metric: MetricRec,
        prompt_json: JsonDict,
        config: JsonDict,
        judge_at: float,
        *,
        previous: ReviewRec | None = None,
    ) -> ReviewRec:
        version_id = metric.current_version_id
        call = JudgeCall(
            prompt=prompt_json,
            row=dict(response.row),
            row_index=response.row_index,
            metric=self._metric_json(metric),
            metric_version_id=version_id,
            response_text=response.response_text or "",
            run=config,
        )
        error: JsonDict | None = None
        verdict: Verdict | None
        try:
            verdict = self.judge(call)
        except Exception as exc:
            self.note_error()
            verdict = None
            error = {
                "provider": None,
                "class": type(exc).__name__,
                "status": None,
                "message": str(exc),
            }
        score: Decimal | None = None
        passed: bool | None = None
        feedback = verdict.feedback if verdict else None
        if verdict is not None and not verdict.failed:
            if metric.is_check and verdict.passed is not None:
                passed = bool(verdict.passed)
            elif not metric.is_check and verdict.score is not None:
                score = Decimal(clamp_score(verdict.score))
        failed = score is None and passed is None
        if failed and error is None:
            error = {
                "provider": None,
                "class": "CompletionKit::JudgeError",
                "status": None,
                "message": feedback or "The judge's output could not be parsed.",
            }
        return ReviewRec(
            id=self._next("review"),
            response_id=response.id,
            metric_id=metric.id,
            metric_version_id=version_id,
            metric_name=metric.name,
            score=score,
            passed=passed,
            feedback=feedback,
            status="failed" if failed else "succeeded",
            error=error,
            attempts=(previous.attempts + 1) if previous else 1,
            judge_at=judge_at,
            pending_status="retrying" if previous else "pending",
        )

    def _settle(self, run: RunRec, now: float) -> None:
        """Lazily move a running run to completed / failed once its clock time has come."""
        if run.status != "running" or run.ends_at is None or now < run.ends_at:
            return
        run.ends_at = None
        run.updated_at = iso_now()
        if run.responses and all(r.status == "failed" for r in run.responses):
            ordered = sorted(run.responses, key=lambda r: (r.row_index, r.id))
            first_error = next((r.error for r in ordered if r.error), None)
            message = (first_error or {}).get("message") or "unknown error"
            n = len(run.responses)
            summary = f"Every response failed to generate ({n} of {n}). First error: {message}"
            run.status = "failed"
            run.failure_summary = summary
            run.error_message = summary
        else:
            run.status = "completed"

    # -- runs: what the clock reveals ------------------------------------------------------------------

    @staticmethod
    def _visible(run: RunRec, now: float) -> list[ResponseRec]:
        return [r for r in run.responses if r.landed_at <= now]

    @staticmethod
    def _generated(response: ResponseRec, now: float) -> bool:
        return now >= response.gen_at

    def _response_status(self, response: ResponseRec, now: float) -> str:
        return response.status if self._generated(response, now) else response.pending_status

    def _shown_reviews(self, response: ResponseRec, now: float) -> list[ReviewRec]:
        return list(response.reviews) if self._generated(response, now) else []

    @staticmethod
    def _review_state(review: ReviewRec, now: float) -> str:
        return review.status if now >= review.judge_at else review.pending_status

    def _done_reviews(self, response: ResponseRec, now: float) -> list[ReviewRec]:
        return [
            rv
            for rv in self._shown_reviews(response, now)
            if self._review_state(rv, now) == "succeeded"
        ]

    def _review_json(self, review: ReviewRec, now: float) -> JsonDict:
        done = now >= review.judge_at
        return {
            "id": review.id,
            "response_id": review.response_id,
            "metric_id": review.metric_id,
            "metric_version_id": review.metric_version_id,
            "metric_name": review.metric_name,
            "ai_score": score_string(review.score) if done else None,
            "passed": review.passed if done else None,
            "ai_feedback": review.feedback if done else None,
            "status": review.status if done else review.pending_status,
            "attempts": review.attempts if done else max(review.attempts - 1, 0),
            "error": review.error if done else None,
        }

    def _response_score(self, response: ResponseRec, now: float) -> float | None:
        scores = [rv.score for rv in self._done_reviews(response, now) if rv.score is not None]
        average = mean(scores)
        return None if average is None else decimal_round(average, 2)

    def _response_json(self, response: ResponseRec, now: float) -> JsonDict:
        generated = self._generated(response, now)
        done = self._done_reviews(response, now)
        return {
            "id": response.id,
            "run_id": response.run_id,
            "input_data": response.input_data,
            "response_text": response.response_text if generated else None,
            "expected_output": response.expected_output,
            "created_at": response.created_at,
            "score": self._response_score(response, now),
            "reviewed": any(rv.score is not None or rv.passed is not None for rv in done),
            "reviews": [self._review_json(rv, now) for rv in self._shown_reviews(response, now)],
            "status": self._response_status(response, now),
            "attempts": response.attempts if generated else max(response.attempts - 1, 0),
            "row_index": response.row_index,
            "error": response.error if generated else None,
        }

    def _progress(self, run: RunRec, now: float) -> JsonDict:
        visible = self._visible(run, now)
        statuses = [self._response_status(r, now) for r in visible]
        generated_done = statuses.count("succeeded")
        generated_failed = statuses.count("failed")
        gradable = [m.id for m in self._gradable(run)]
        judged_done = judged_failed = 0
        if gradable:
            for response, status in zip(visible, statuses, strict=True):
                if status != "succeeded":
                    continue
                latest = {rv.metric_id: rv for rv in response.reviews}
                states = [
                    self._review_state(latest[m], now) if m in latest else "missing"
                    for m in gradable
                ]
                if all(s == "succeeded" for s in states):
                    judged_done += 1
                elif all(s in ("succeeded", "failed") for s in states):
                    judged_failed += 1
        return {
            "generated": {
                "done": generated_done,
                "total": len(visible),
                "failed": generated_failed,
            },
            "judged": {
                "done": judged_done,
                "total": generated_done if gradable else 0,
                "failed": judged_failed,
            },
        }

    def _aggregates(self, run: RunRec, now: float) -> JsonDict:
        reviews = [rv for r in self._visible(run, now) for rv in self._done_reviews(r, now)]
        scores = [rv.score for rv in reviews if rv.score is not None]
        checks = [rv.passed for rv in reviews if rv.passed is not None]
        average = mean(scores)
        order = {metric_id: i for i, metric_id in enumerate(run.metric_ids)}
        names: list[str] = []
        for rv in sorted(reviews, key=lambda rv: (order.get(rv.metric_id or -1, 1 << 30), rv.id)):
            if rv.metric_name not in names:
                names.append(rv.metric_name)
        metric_averages: list[JsonDict] = []
        for name in names:
            named = [rv for rv in reviews if rv.metric_name == name]
            named_scores = [rv.score for rv in named if rv.score is not None]
            named_checks = [rv.passed for rv in named if rv.passed is not None]
            if named_scores:
                avg = mean(named_scores) or Decimal(0)
                metric_averages.append(
                    {
                        "name": name,
                        "avg": decimal_round(avg, 1),
                        "count": len(named_scores),
                        "low_count": sum(1 for s in named_scores if s < LOW_SCORE_THRESHOLD),
                    }
                )
            elif named_checks:
                rate = Decimal(sum(named_checks)) / len(named_checks)
                metric_averages.append(
                    {
                        "name": name,
                        "kind": "check",
                        "pass_rate": decimal_round(rate, 2),
                        "count": len(named_checks),
                        "low_count": sum(1 for p in named_checks if not p),
                    }
                )
        return {
            "avg_score": None if average is None else decimal_round(average, 2),
            "check_pass_rate": (
                decimal_round(Decimal(sum(checks)) / len(checks), 2) if checks else None
            ),
            "metric_averages": metric_averages,
        }

    def _run_json(self, run: RunRec, now: float, *, settle: bool = True) -> JsonDict:
        """The Run object at clock time `now`. The 202 bodies of generate, rerun, retry_failures
        and regrade pass settle=False: the engine answers once the run is claimed (`running`)."""
        if settle:
            self._settle(run, now)
        visible = self._visible(run, now)
        progress = self._progress(run, now)
        aggregates = self._aggregates(run, now)
        return {
            "id": run.id,
            "name": run.name,
            "status": run.status,
            "prompt_id": run.prompt_id,
            "dataset_id": run.dataset_id,
            "judge_model": run.judge_model,
            "temperature": run.temperature,
            "output_column": run.output_column,
            "expected_column": run.expected_column,
            "created_at": run.created_at,
            "updated_at": run.updated_at,
            "max_tokens": run.max_tokens,
            "judge_temperature": run.judge_temperature,
            "responses_count": len(visible),
            "avg_score": aggregates["avg_score"],
            "check_pass_rate": aggregates["check_pass_rate"],
            "metric_averages": aggregates["metric_averages"],
            "progress_current": progress["generated"]["done"],
            "progress_total": len(visible),
            "progress": progress,
            "failed_response_ids": [
                r.id for r in visible if self._response_status(r, now) == "failed"
            ],
            "failure_summary": run.failure_summary,
            "error_message": run.error_message,
            "metric_ids": list(run.metric_ids),
            "tags": self._tags_json(run.tag_ids),
            "temperature_ignored": False,
            "judge_temperature_ignored": False,
        }

    # -- runs: endpoints ------------------------------------------------------------------------------

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
            base: JsonDict = {"name": run.name, **{k: getattr(run, k) for k in _RUN_SETTINGS}}
            values, tags = self._run_settings(body, base)
            run.name = values["name"] or run.name
            for key in _RUN_SETTINGS:
                setattr(run, key, values[key])
            if tags is not None:
                run.tag_ids = self._tag_ids(tags)
            run.updated_at = iso_now()
            return self._run_json(run, self.clock())

    def delete_run(self, ident: int | str) -> None:
        with self.lock:
            run = self._run(ident)
            del self._runs[run.id]

    def generate(self, ident: int | str) -> JsonDict:
        """202 semantics: start generation and judging. Only from pending or failed; any refusal
        (bad state, empty dataset, missing output column) flips the run to failed AND raises 422."""
        with self.lock:
            now = self.clock()
            run = self._run(ident)
            self._settle(run, now)
            self._start(run, now)
            return self._run_json(run, now, settle=False)

    def rerun(self, ident: int | str) -> JsonDict:
        """Clone the settings into a new run and start it. If it cannot start: 422 and the new
        run stays behind as failed."""
        with self.lock:
            now = self.clock()
            source = self._run(ident)
            values = {key: getattr(source, key) for key in _RUN_SETTINGS}
            run = self._insert_run(values, self._tag_names(source.tag_ids))
            try:
                self._start(run, now)
            except ApiError:
                raise ApiError(422, run.failure_summary or "Could not start the new run.") from None
            return self._run_json(run, now, settle=False)

    def retry_failures(self, ident: int | str, body: Mapping[str, Any] | None = None) -> JsonDict:
        """Re-queue failed responses and failed reviews in place (optionally only some response
        ids). 409 when a metric has a newer version than the run's reviews."""
        body = body or {}
        with self.lock:
            now = self.clock()
            run = self._run(ident)
            self._settle(run, now)
            for response in run.responses:
                for review in response.reviews:
                    metric = self._metrics.get(review.metric_id or -1)
                    if metric and review.metric_version_id != metric.current_version_id:
                        raise ApiError(409, JUDGE_DRIFT)
            only_raw = body.get("only")
            only: set[int] | None = None
            if only_raw is not None:
                raw_list = only_raw if isinstance(only_raw, list) else [only_raw]
                only = {i for i in (as_int(v) for v in raw_list) if i is not None}
            visible = self._visible(run, now)
            selected = [r for r in visible if only is None or r.id in only]
            failed_responses = [r for r in selected if self._response_status(r, now) == "failed"]
            failed_reviews = [
                (r, rv)
                for r in selected
                if self._response_status(r, now) == "succeeded"
                for rv in r.reviews
                if self._review_state(rv, now) == "failed"
            ]
            total = len(failed_responses) + len(failed_reviews)
            if total == 0:
                return self._run_json(run, now)
            duration = max(self.run_duration, 0.0)
            prompt = self._prompts.get(run.prompt_id) if run.prompt_id is not None else None
            prompt_json = self._prompt_json(prompt) if prompt else {}
            config = self._run_config(run)
            gradable = self._gradable(run)
            output_column = run.output_column or DEFAULT_OUTPUT_COLUMN
            times = self._row_times(run, total, duration, now)
            slots = iter(zip(times.generated, times.judged, strict=True))
            for response in failed_responses:
                response.gen_at, judge_at = next(slots)
                response.pending_status = "retrying"
                self._produce(response, prompt, prompt_json, output_column)
                response.reviews = (
                    [self._judge(response, m, prompt_json, config, judge_at) for m in gradable]
                    if response.status == "succeeded"
                    else []
                )
            for response, review in failed_reviews:
                _, judge_at = next(slots)
                metric = self._metrics.get(review.metric_id or -1)
                if metric is None:
                    continue
                fresh = self._judge(
                    response, metric, prompt_json, config, judge_at, previous=review
                )
                response.reviews = [fresh if rv is review else rv for rv in response.reviews]
            run.status = "running"
            run.failure_summary = None
            run.error_message = None
            run.ends_at = times.ends
            run.updated_at = iso_now()
            return self._run_json(run, now, settle=False)

    def regrade(self, ident: int | str) -> JsonDict:
        """Re-judge succeeded responses with the current metric versions, without regenerating."""
        with self.lock:
            now = self.clock()
            run = self._run(ident)
            self._settle(run, now)
            succeeded = [
                r for r in self._visible(run, now) if self._response_status(r, now) == "succeeded"
            ]
            if not succeeded or not run.metric_ids:
                raise ApiError(422, NOTHING_TO_REGRADE)
            duration = max(self.run_duration, 0.0)
            prompt = self._prompts.get(run.prompt_id) if run.prompt_id is not None else None
            prompt_json = self._prompt_json(prompt) if prompt else {}
            config = self._run_config(run)
            gradable = self._gradable(run)
            times = self._row_times(run, len(succeeded), duration, now)
            for response, judge_at in zip(succeeded, times.judged, strict=True):
                response.reviews = [
                    self._judge(response, m, prompt_json, config, judge_at) for m in gradable
                ]
            run.status = "running"
            run.failure_summary = None
            run.error_message = None
            run.ends_at = times.ends
            run.updated_at = iso_now()
            return self._run_json(run, now, settle=False)

    def add_completed_run(
        self,
        prompt_id: int | None,
        dataset_id: int | None,
        metric_ids: Sequence[int],
        judge_model: str | None = "gpt-4o",
        tag_names: Sequence[str] = (),
        name: str | None = None,
        temperature: float | None = None,
        judge_temperature: float | None = None,
        max_tokens: int | None = None,
        expected_column: str | None = None,
        output_column: str | None = None,
    ) -> JsonDict:
        """A run generated and judged instantly (generator and judge are called now)."""
        body: JsonDict = {
            "prompt_id": prompt_id,
            "dataset_id": dataset_id,
            "metric_ids": list(metric_ids),
            "judge_model": judge_model,
            "tag_names": list(tag_names),
            "name": name,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "expected_column": expected_column,
            "output_column": output_column,
        }
        if judge_temperature is not None:
            body["judge_temperature"] = judge_temperature
        with self.lock:
            now = self.clock()
            values, tags = self._run_settings(body, self._blank_settings())
            run = self._insert_run(values, tags or [])
            self._start(run, now, instant=True)
            return self._run_json(run, now)

    # -- responses ------------------------------------------------------------------------------------

    def list_responses(self, ident: int | str, query: Query | None = None) -> Page:
        """Ordered by id; filters status, min_score/max_score; sort id|score_asc|score_desc;
        `fields` trims keys (`id` always; `reviews.<key>` trims reviews)."""
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

    # -- compare ----------------------------------------------------------------------------------------

    def compare(self, ident: int | str, other: int | str | None) -> JsonDict:
        """Per-case comparison of run A (ident, baseline) with run B (`with`, candidate)."""
        with self.lock:
            now = self.clock()
            left = self._run(ident)
            other_id = None if other is None else parse_ident(other)
            if other_id is None or other_id not in self._runs:
                raise ApiError(404, OTHER_RUN_NOT_FOUND)
            right = self._runs[other_id]
            self._settle(left, now)
            self._settle(right, now)

            def cases(run: RunRec) -> list[ResponseRec]:
                return sorted(self._visible(run, now), key=lambda r: (r.row_index, r.id))

            left_cases, right_cases = cases(left), cases(right)
            right_by_input: dict[str, ResponseRec] = {}
            for response in right_cases:
                right_by_input.setdefault(response.input_data, response)

            metric_ids: list[int] = []
            for run_cases in (left_cases, right_cases):
                reviews = sorted(
                    (rv for r in run_cases for rv in self._shown_reviews(r, now)),
                    key=lambda rv: rv.id,
                )
                for rv in reviews:
                    if rv.metric_id is not None and rv.metric_id not in metric_ids:
                        metric_ids.append(rv.metric_id)

            rows: list[JsonDict] = []
            for left_response in left_cases:
                right_response = right_by_input.get(left_response.input_data)
                left_reviews = self._reviews_by_metric(left_response, now)
                right_reviews = (
                    self._reviews_by_metric(right_response, now) if right_response else {}
                )
                per_metric = [
                    self._compare_entry(m, left_reviews.get(m), right_reviews.get(m), now)
                    for m in metric_ids
                    if m in left_reviews or m in right_reviews
                ]
                rows.append(
                    {
                        "left_response_id": left_response.id,
                        "right_response_id": right_response.id if right_response else None,
                        "row_index": left_response.row_index,
                        "per_metric": per_metric,
                    }
                )
            return {
                "left_run_id": left.id,
                "right_run_id": right.id,
                "metric_ids": metric_ids,
                "rows": rows,
            }

    def _reviews_by_metric(self, response: ResponseRec, now: float) -> dict[int, ReviewRec]:
        found: dict[int, ReviewRec] = {}
        for review in sorted(self._shown_reviews(response, now), key=lambda rv: rv.id):
            if review.metric_id is not None:
                found.setdefault(review.metric_id, review)
        return found

    def _compare_entry(
        self, metric_id: int, left: ReviewRec | None, right: ReviewRec | None, now: float
    ) -> JsonDict:
        def settled(review: ReviewRec | None) -> ReviewRec | None:
            if review is None or self._review_state(review, now) != "succeeded":
                return None
            return review

        done_left, done_right = settled(left), settled(right)
        left_score = done_left.score if done_left else None
        right_score = done_right.score if done_right else None
        left_passed = done_left.passed if done_left else None
        right_passed = done_right.passed if done_right else None
        metric = self._metrics.get(metric_id)
        if metric is not None:
            kind = metric.metric_type
        else:
            kind = "check" if left_passed is not None or right_passed is not None else "llm_judge"
        delta = (
            decimal_round(right_score - left_score, 2)
            if left_score is not None and right_score is not None
            else None
        )
        result_change: str | None = None
        if left_passed is not None and right_passed is not None:
            if left_passed and not right_passed:
                result_change = "broke"
            elif right_passed and not left_passed:
                result_change = "fixed"
            else:
                result_change = "same"
        named = left or right
        return {
            "metric_id": metric_id,
            "metric_name": named.metric_name if named else (metric.name if metric else ""),
            "kind": kind,
            "left_score": score_string(left_score),
            "right_score": score_string(right_score),
            "left_passed": left_passed,
            "right_passed": right_passed,
            "left_metric_version_id": left.metric_version_id if left else None,
            "right_metric_version_id": right.metric_version_id if right else None,
            "delta": delta,
            "result_change": result_change,
        }


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
