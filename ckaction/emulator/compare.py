"""Compare two runs row by row and metric by metric, as the clock reveals them."""

from __future__ import annotations

from ckaction.emulator.judging import JsonDict
from ckaction.emulator.records import (
    ApiError,
    ResponseRec,
    ReviewRec,
    RunRec,
    decimal_round,
    parse_ident,
    score_string,
)
from ckaction.emulator.run_views import RunViews

OTHER_RUN_NOT_FOUND = "Other run not found. Pass ?with=<run_id>."


class Compare(RunViews):
    """`GET /runs/:id/compare?with=`: runs paired case by case on identical input rows."""

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
