"""What the model said (issue 14), end to end in process: a regressed row's baseline and new outputs
come from the responses the gate already downloads (no request per row), show in the summary as a
folded line diff linked to the runs, and travel in the JSON report."""

from __future__ import annotations

import re

from tests.conftest import ActionEnv, Emulated
from tests.integration.helpers import gate_step


def test_a_regressed_rows_outputs_are_shown_and_reported_without_a_request_per_row(
    emulated: Emulated, action_env: ActionEnv
) -> None:
    result = gate_step(emulated, action_env)
    assert result.code == 1 and result.report is not None
    (row,) = [r for r in result.report["rows"] if r["status"] == "regressed"]
    assert row["row_index"] == emulated.ids.regressed_row_index
    baseline, new = row["baseline_output"], row["candidate_output"]
    assert baseline and new and baseline != new
    unchanged = [r for r in result.report["rows"] if r["status"] == "unchanged"]
    assert unchanged and all(
        r["candidate_output"] is None for r in unchanged
    )  # kept for regressions

    fold = result.summary.split(f"What the model said on row {row['row_index']}</summary>", 1)[1]
    fold = fold.split("</details>", 1)[0]
    # "#" + digits would link an issue: the escaping puts a zero-width space between them.
    assert re.search(r"^\| − \| Hi! Yes: the delivery address of order #\u200b10533 ", fold, re.M)
    assert re.search(r"^\| \+ \| Order #\u200b10533: the address cannot be changed\.", fold, re.M)

    runs = {result.report["baseline_run"]["id"], result.report["candidate_run"]["id"]}
    reads = [r.path for r in emulated.emulator.requests if r.method == "GET"]
    per_row = [p for p in reads if re.fullmatch(r"/runs/\d+/responses/\d+", p)]
    listings = {p for p in reads if re.fullmatch(r"/runs/\d+/responses", p)}
    assert per_row == [] and listings == {f"/runs/{run}/responses" for run in runs}
