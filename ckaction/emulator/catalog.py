"""The catalog a run is built from: metrics and datasets, with their tags.

Metrics follow completion-kit `app/models/completion_kit/metric.rb` and the API's
`metrics_controller.rb` (@079303e1): `metric_type` `llm_judge` or `check`, a check's `check_config`
validated as `checks.py` says, the type locked once the metric is attached to a run or scored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ckaction.emulator.checks import permitted as permitted_check_config
from ckaction.emulator.checks import validation_errors as check_config_errors
from ckaction.emulator.judging import JsonDict
from ckaction.emulator.records import (
    ApiError,
    DatasetRec,
    Errors,
    MetricRec,
    Page,
    Query,
    as_int,
    build_csv,
    iso_now,
    not_found,
    parse_csv,
    parse_ident,
)
from ckaction.emulator.store import Store

RUBRIC_STARS = range(1, 6)  # a rubric has one band per star, 1 to 5
BYTES_PER_MB = 1024 * 1024


class Catalog(Store):
    """Metrics (LLM judges and checks, versioned) and datasets (CSV), each tagged."""

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
                if stars is None or stars not in RUBRIC_STARS:
                    errors.add("rubric_bands", "stars must be 1..5")
                    continue
                bands[stars] = str(band.get("description") or "")
        return [{"stars": s, "description": bands.get(s, "")} for s in RUBRIC_STARS]

    def _metric_fields(
        self, body: Mapping[str, Any], metric: MetricRec | None
    ) -> tuple[JsonDict, list[str] | None]:
        tags = self._tag_names_from(body)  # assigned (and refused) before any validation
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
            errors.add("metric_type", "cannot change once the metric has been used in a run")
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
        if "check_config" in body:
            check_config = permitted_check_config(body["check_config"])
        else:
            check_config = metric.check_config if metric else None
        if metric_type == "check":
            for message in check_config_errors(check_config):
                errors.add("check_config", message)
        values["check_config"] = check_config
        errors.raise_if_any()
        return values, tags

    def _metric_used(self, metric_id: int) -> bool:
        """`Metric#in_use?`: attached to a run, or scored in one."""
        return any(metric_id in run.metric_ids for run in self._runs.values()) or any(
            rv.metric_id == metric_id
            for run in self._runs.values()
            for resp in run.responses
            for rv in resp.reviews
        )

    def _new_version(self, metric_type: str) -> int:
        """A metric version id; the version keeps the type it was made with, as the engine's
        `metric_versions.metric_type` does (what a compare's `kind` reads)."""
        version_id = self._next("metric_version")
        self._version_types[version_id] = metric_type
        return version_id

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
                versions=[self._new_version(str(values["metric_type"]))],
            )
            self._metrics[metric.id] = metric
            return self._metric_json(metric)

    @staticmethod
    def _judged_content(metric: MetricRec) -> tuple[Any, ...]:
        return (metric.metric_type, metric.instruction, metric.rubric_bands, metric.check_config)

    def update_metric(self, ident: int | str, body: Mapping[str, Any]) -> JsonDict:
        """Edits in place; a changed type, instruction, rubric or check config publishes a new
        version."""
        with self.lock:
            metric = self._metric(ident)
            values, tags = self._metric_fields(body, metric)
            judged_content = self._judged_content(metric)
            metric.name = str(values["name"]).strip()
            metric.metric_type = str(values["metric_type"])
            metric.instruction = values["instruction"]
            metric.rubric_bands = values["rubric_bands"]
            metric.check_config = values["check_config"]
            if tags is not None:
                metric.tag_ids = self._tag_ids(tags)
            if judged_content != self._judged_content(metric):
                metric.versions.append(self._new_version(metric.metric_type))
            metric.updated_at = iso_now()
            return self._metric_json(metric)

    def delete_metric(self, ident: int | str) -> None:
        """Gone with its versions; its reviews stay, no longer naming it (so a compare leaves
        them out: it lists the metrics its reviews name)."""
        with self.lock:
            metric = self._metric(ident)
            del self._metrics[metric.id]
            for version_id in metric.versions:  # `has_many :metric_versions, dependent: :destroy`
                self._version_types.pop(version_id, None)
            for run in self._runs.values():
                run.metric_ids = [m for m in run.metric_ids if m != metric.id]
                for review in (rv for response in run.responses for rv in response.reviews):
                    if review.metric_id == metric.id:  # `has_many :reviews, dependent: :nullify`
                        review.metric_id = None

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
            metric.versions.append(self._new_version(metric.metric_type))
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
        tags = self._tag_names_from(body)  # assigned (and refused) before any validation
        errors = Errors()
        name = body.get("name", dataset.name if dataset else None)
        if not isinstance(name, str) or not name.strip():
            errors.add("name", "can't be blank")
        csv_data = body.get("csv_data", dataset.csv_data if dataset else None)
        if not isinstance(csv_data, str) or not csv_data.strip():
            errors.add("csv_data", "can't be blank")
        elif len(csv_data.encode()) > self.max_upload_bytes:
            limit_mb = self.max_upload_bytes // BYTES_PER_MB
            raise ApiError(413, f"CSV is larger than the {limit_mb} MB upload limit")
        elif not parse_csv(csv_data)[0]:
            errors.add("csv_data", "must start with a header row")
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
