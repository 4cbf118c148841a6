"""What the clock reveals of a run: settling, visible rows, progress, aggregates and the JSON.

Rows land `start_delay` seconds after generate (until then `progress_total` is 0); response i is
generated at `landed + run_duration * (i + 1) / n / 2` and judged at
`landed + run_duration * (i + 1) / n` (`pace.row_times`; `pace_jitter` makes rows finish out of
step); the run settles (completed, or failed when every response failed) when its last row is
judged, `landed + run_duration` at a steady pace. State is computed lazily on each read; there are
no background threads.
"""

from __future__ import annotations

from decimal import Decimal

from ckaction.emulator.judging import JsonDict
from ckaction.emulator.records import (
    MetricRec,
    ResponseRec,
    ReviewRec,
    RunRec,
    decimal_round,
    iso_now,
    mean,
    not_found,
    parse_ident,
    score_string,
)
from ckaction.emulator.store import Store

LOW_SCORE_THRESHOLD = Decimal(3)  # medium_quality_threshold


class RunViews(Store):
    """A run as the clock reveals it: which responses have landed, been generated and been
    judged at time `now`, and the JSON of runs, responses and reviews at that time."""

    def _run(self, ident: int | str) -> RunRec:
        run_id = parse_ident(ident)
        if run_id is None or run_id not in self._runs:
            raise not_found()
        return self._runs[run_id]

    def _gradable(self, run: RunRec) -> list[MetricRec]:
        """Checks always; LLM-judge metrics only when the run has a judge_model."""
        metrics = [self._metrics[m] for m in run.metric_ids if m in self._metrics]
        return [m for m in metrics if m.is_check or run.judge_model]

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

    @staticmethod
    def _shown_version(review: ReviewRec, now: float) -> int | None:
        """The review's metric version as the engine holds it: `Run#regrade!` clears
        `metric_version_id` on every review (completion-kit `app/models/completion_kit/run.rb`
        @135e579b) and the judge job sets it again when it scores the review."""
        if review.regraded and now < review.judge_at:
            return None
        return review.metric_version_id

    def _review_json(self, review: ReviewRec, now: float) -> JsonDict:
        done = now >= review.judge_at
        return {
            "id": review.id,
            "response_id": review.response_id,
            "metric_id": review.metric_id,
            "metric_version_id": self._shown_version(review, now),
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
        detached = len(order)  # reviews of metrics no longer on the run come after the rest
        names: list[str] = []
        for rv in sorted(reviews, key=lambda rv: (order.get(rv.metric_id or -1, detached), rv.id)):
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
