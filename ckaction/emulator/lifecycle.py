"""The run lifecycle: start (generate and judge up front), rerun, retry failures, regrade."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ckaction.emulator.judging import (
    GenerationError,
    JsonDict,
    JudgeCall,
    Verdict,
    clamp_score,
)
from ckaction.emulator.pace import RowTimes, row_times
from ckaction.emulator.records import (
    ApiError,
    MetricRec,
    PromptRec,
    ResponseRec,
    ReviewRec,
    RunRec,
    as_int,
    input_data_json,
    iso_now,
)
from ckaction.emulator.runs import DEFAULT_OUTPUT_COLUMN, RUN_SETTINGS, Runs

DEFAULT_EXPECTED_COLUMN = "expected_output"

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


class Lifecycle(Runs):
    """Starting runs and working on their responses: generate, rerun, retry_failures, regrade,
    and `add_completed_run` for fixtures.

    `generate` computes every response and review up front (calling the generator and the judge);
    what reads reveal is then governed by the clock (`run_views`)."""

    def _fail_with_summary(self, run: RunRec, message: str) -> ApiError:
        """The engine's `fail_with_summary!` (completion-kit `app/models/completion_kit/run.rb`
        @135e579b, 0.28.30, and every earlier `start!`): `update_columns(status: "failed", ...)`,
        then the 422 carries the text. A run refused this way while it was running keeps its
        responses but never completes: the completion check only acts on running runs."""
        run.status = "failed"
        run.failure_summary = message
        run.error_message = message
        run.ends_at = None
        run.updated_at = iso_now()
        return ApiError(422, message)

    @staticmethod
    def _running(run: RunRec, ends_at: float, stamp: str) -> None:
        """The run is claimed: running until `ends_at` on the emulator clock, past failures cleared."""
        run.status = "running"
        run.failure_summary = None
        run.error_message = None
        run.ends_at = ends_at
        run.updated_at = stamp

    def _prompt_of(self, run: RunRec) -> tuple[PromptRec | None, JsonDict]:
        """The run's prompt record and its JSON as generators and judges see it ({} for none)."""
        prompt = self._prompts.get(run.prompt_id) if run.prompt_id is not None else None
        return prompt, self._prompt_json(prompt) if prompt else {}

    def _row_times(self, run: RunRec, count: int, duration: float, start: float) -> RowTimes:
        """When each of `count` rows finishes. A jittered pace is drawn from `pace_seed`, so two
        runs of the same size and length started under one seed keep the same pace."""
        rng = random.Random(f"{self.pace_seed}:{count}:{duration}")
        return row_times(count, duration, start, jitter=self.pace_jitter, rng=rng)

    def _start(self, run: RunRec, now: float, *, instant: bool = False) -> None:
        if run.status not in ("pending", "failed"):
            raise self._fail_with_summary(run, CANNOT_START.format(state=run.status))
        dataset = self._datasets.get(run.dataset_id) if run.dataset_id is not None else None
        prompt, prompt_json = self._prompt_of(run)
        rows: list[dict[str, str]]
        if dataset is None:
            rows = [{}]  # a prompt without variables and without a dataset: one response
        else:
            rows = [dict(row) for row in dataset.rows]
            if not rows:
                raise self._fail_with_summary(run, "Dataset has no rows")
        output_column = run.output_column or DEFAULT_OUTPUT_COLUMN
        if (
            prompt is None
            and not self._reads_only_input_data(run)
            and (dataset is None or output_column not in dataset.columns)
        ):
            raise self._fail_with_summary(run, f'Dataset has no "{output_column}" column')

        delay = 0.0 if instant else max(self.start_delay, 0.0)
        duration = 0.0 if instant else max(self.run_duration, 0.0)
        landed = now + delay
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
                input_data=input_data_json(row),
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
        self._running(run, times.ends, stamp)

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
            input_data=response.input_data,
            expected_output=response.expected_output,
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

    def generate(self, ident: int | str) -> JsonDict:
        """202 semantics: start generation and judging. Only from pending or failed; any refusal
        (bad state, empty dataset, missing output column) flips the run to failed AND raises 422,
        as the engine's `Run#start!` does (`run.rb` @135e579b: a second `generate` on a running
        run fails it)."""
        with self.lock:
            now = self.clock()
            run = self._run(ident)
            self._settle(run, now)
            self._start(run, now)
            return self._run_json(run, now, settle=False)

    def rerun(self, ident: int | str) -> JsonDict:
        """Clone the settings into a new run and start it. If it cannot start: 422 and the new
        run stays behind as failed. The tags are copied too, as the engine's `Run#rerun!` does
        (`tag_names: tag_names`, `app/models/completion_kit/run.rb`)."""
        with self.lock:
            now = self.clock()
            source = self._run(ident)
            values = {key: getattr(source, key) for key in RUN_SETTINGS}
            run = self._insert_run(values, self._tag_names(source.tag_ids))
            try:
                self._start(run, now)
            except ApiError:
                raise ApiError(422, run.failure_summary or "Could not start the new run.") from None
            return self._run_json(run, now, settle=False)

    def retry_failures(self, ident: int | str, body: Mapping[str, Any] | None = None) -> JsonDict:
        """Re-queue failed responses and failed reviews in place (optionally only some response
        ids). 409 when a metric has a newer version than the run's reviews.

        Engine: `api/v1/runs_controller.rb#retry_failures` (homemade-software-inc/completion-kit
        @0129ac25: 409 "Judge has changed…" when `stale_review_summary.any?`, failed responses
        (`only` narrows them) and their failed reviews reset, the run set `running`, 202 with
        the run); CHANGELOG 0.28.39: failed reviews of succeeded responses are re-queued too, and
        the status is left alone when nothing failed."""
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
            prompt, prompt_json = self._prompt_of(run)
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
            self._running(run, times.ends, iso_now())
            return self._run_json(run, now, settle=False)

    def regrade(self, ident: int | str) -> JsonDict:
        """Re-judge succeeded responses with the current metric versions, without regenerating.

        Engine: `api/v1/runs_controller.rb#regrade` (homemade-software-inc/completion-kit
        @0129ac25): 202 with the same run (`running` while the reviews are redone) when
        `Run#regrade!` accepts, else 422 "Nothing to re-grade. …"."""
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
            _, prompt_json = self._prompt_of(run)
            config = self._run_config(run)
            gradable = self._gradable(run)
            times = self._row_times(run, len(succeeded), duration, now)
            for response, judge_at in zip(succeeded, times.judged, strict=True):
                response.reviews = [
                    replace(self._judge(response, m, prompt_json, config, judge_at), regraded=True)
                    for m in gradable
                ]
            self._running(run, times.ends, iso_now())
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
