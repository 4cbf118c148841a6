"""Which flow made a run, by its tag, and which runs may therefore be a gate's baseline.

The engine's `rerun!` copies the old run's `tag_names` into the new run
(`app/models/completion_kit/run.rb`, `rerun!`: `tag_names: tag_names`), so a rerun of a gate run
would carry `ckaction-gate` or `ckaction-passed`, and a rerun of a baseline `ckaction-baseline`.
Every rerun this tool makes gets its tags replaced at once with the one tag of the flow that made it
(`retag_rerun`): `ckaction-baseline` for rebaseline, `ckaction-calibrate` for calibrate.
"""

from __future__ import annotations

from ckaction.api import CompletionKitClient
from ckaction.models import Run

CONFIRM_TAG = "ckaction-confirm"
"""Confirm datasets and the runs on them (`confirm-runs`): never a baseline, removed by cleanup."""
CONFIRM_NAME_PREFIX = "ckaction confirm "
"""How a confirm's dataset and runs are named: `ckaction confirm <commit> run <id> …`."""
CALIBRATE_TAG = "ckaction-calibrate"
"""calibrate's reruns of the baseline: noise measurements, never a baseline."""
NOT_BASELINE_TAGS = frozenset({CONFIRM_TAG, CALIBRATE_TAG})


def may_be_baseline(run: Run) -> bool:
    """False for a run made to measure noise or to confirm flagged rows (by its tag)."""
    return not NOT_BASELINE_TAGS.intersection(run.tag_names)


def retag_rerun(client: CompletionKitClient, run: Run, tag: str) -> Run:
    """Replace the tags a rerun copied from its source with the one `tag` of the flow that made it
    (`PATCH /runs/:id` with `tag_names` replaces them)."""
    return client.set_run_tags(run.id, [tag])
