"""Compare two runs row by row and metric by metric, as the clock reveals them."""

from __future__ import annotations

import copy
from collections.abc import Callable

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
            right_by_input: dict[str, ResponseRec] = {}  # keyed by `input_data.to_s`
            for response in right_cases:
                right_by_input.setdefault(response.input_data or "", response)

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
                right_response = right_by_input.get(left_response.input_data or "")
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

    def _kind(self, review: ReviewRec | None, now: float) -> str:
        """`anchor.check? ? "check" : "llm_judge"`, where `Review#check?` reads the review's metric
        version (`metric_version&.metric_type == "check"`, completion-kit
        `app/models/completion_kit/review.rb`): a review a regrade has not scored yet has no
        version, so it reads `llm_judge`, whatever the metric is."""
        version_id = self._shown_version(review, now) if review else None
        is_check = version_id is not None and self._version_types.get(version_id) == "check"
        return "check" if is_check else "llm_judge"

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
        named = left or right
        kind = self._kind(named, now)
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
        return {
            "metric_id": metric_id,
            "metric_name": named.metric_name if named else "",
            "kind": kind,
            "left_score": score_string(left_score),
            "right_score": score_string(right_score),
            "left_passed": left_passed,
            "right_passed": right_passed,
            "left_metric_version_id": self._shown_version(left, now) if left else None,
            "right_metric_version_id": self._shown_version(right, now) if right else None,
            "delta": delta,
            "result_change": result_change,
        }


# -- tampered answers: what a hostile proxy or server could send (see `Fault.tamper`) ----------------


def _scored_entries(answer: JsonDict) -> list[JsonDict]:
    return [entry for row in answer["rows"] for entry in row["per_metric"]]


def _hide_deltas(answer: JsonDict) -> JsonDict:
    """Every delta sent as 0.0, the scores left as they are: the deltas contradict the scores."""
    for entry in _scored_entries(answer):
        if entry["delta"] is not None:
            entry["delta"] = 0.0
    return answer


def _self_compare(answer: JsonDict) -> JsonDict:
    """The baseline compared with itself, answered for the candidate the client asked about."""
    for row in answer["rows"]:
        row["right_response_id"] = row["left_response_id"]
        for entry in row["per_metric"]:
            entry["right_score"], entry["right_passed"] = entry["left_score"], entry["left_passed"]
            entry["right_metric_version_id"] = entry["left_metric_version_id"]
            entry["delta"] = None if entry["left_score"] is None else 0.0
            entry["result_change"] = None if entry["left_passed"] is None else "same"
    answer["right_run_id"] = answer["left_run_id"]
    return answer


def _first_row_repeated(answer: JsonDict) -> JsonDict:
    """Every row replaced by a copy of the first: the same pair listed once per row."""
    answer["rows"] = [copy.deepcopy(answer["rows"][0]) for _ in answer["rows"]]
    return answer


def _worse_rows_dropped(answer: JsonDict) -> JsonDict:
    """Rows with a negative delta or a broken check left out."""
    answer["rows"] = [
        row
        for row in answer["rows"]
        if not any(
            (entry["delta"] or 0) < 0 or entry["result_change"] == "broke"
            for entry in row["per_metric"]
        )
    ]
    return answer


def _judged_as_checks(answer: JsonDict) -> JsonDict:
    """LLM-judge metrics sent as `check`: a check regresses only when it breaks."""
    for entry in _scored_entries(answer):
        if entry["kind"] == "llm_judge":
            entry["kind"] = "check"
    return answer


TAMPERINGS: dict[str, Callable[[JsonDict], JsonDict]] = {
    "delta": _hide_deltas,
    "runs": _self_compare,
    "repeat": _first_row_repeated,
    "drop": _worse_rows_dropped,
    "kind": _judged_as_checks,
}
"""Rewrites of a compare answer by name, for `Fault(tamper=...)`."""
