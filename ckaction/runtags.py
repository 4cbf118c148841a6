"""Which flow made a run, by its tag, which runs may therefore be a gate's baseline, and the one
rule for the tags of a run this tool makes from another run.

The engine's `rerun!` copies the old run's `tag_names` into the new run
(`app/models/completion_kit/run.rb`, `rerun!`: `tag_names: tag_names`), so a rerun of a gate run
would carry `ckaction-gate` or `ckaction-passed`, and a rerun of a baseline `ckaction-baseline`.
Every run this tool makes from another (a rebaseline by rerun, new run or regrade; a calibrate
rerun) gets `derived_tags`: the owner's own tags kept, every flow tag of this tool replaced by the
one of the flow that made it. A rerun gets them at once (`retag_rerun`); one whose tags cannot be
replaced is deleted, so it can never pass for a baseline or for a passed gate run.
"""

from __future__ import annotations

from collections.abc import Sequence

from ckaction.api import CompletionKitClient
from ckaction.candidates import ANCHOR_TAG, BASELINE_TAG, PASSED_TAG
from ckaction.errors import CkError
from ckaction.models import Run

GATE_TAG = "ckaction-gate"
"""A gate's candidate runs (`flow.Gate`, `filegate.FileGate`): never a baseline."""
CONFIRM_TAG = "ckaction-confirm"
"""Confirm datasets and the runs on them (`confirm-runs`): never a baseline, removed by cleanup."""
CONFIRM_NAME_PREFIX = "ckaction confirm "
"""How a confirm's dataset and runs are named: `ckaction confirm <commit> run <id> …`."""
CALIBRATE_TAG = "ckaction-calibrate"
"""calibrate's reruns of the baseline: noise measurements, never a baseline."""
NOT_BASELINE_TAGS = frozenset({CONFIRM_TAG, CALIBRATE_TAG})
FLOW_TAGS = frozenset({GATE_TAG, PASSED_TAG, BASELINE_TAG, ANCHOR_TAG, *NOT_BASELINE_TAGS})
"""Every tag that says which of this tool's flows made a run: a run made from another keeps none
of its source's, only the one of its own flow (`derived_tags`)."""


class RetagFailed(CkError):
    """A rerun's copied tags could not be replaced (`retag_rerun`)."""

    title = "Rerun not retagged"


def may_be_baseline(run: Run) -> bool:
    """False for a run made to measure noise or to confirm flagged rows (by its tag)."""
    return not NOT_BASELINE_TAGS.intersection(run.tag_names)


def derived_tags(source_tags: Sequence[str], flow_tag: str) -> list[str]:
    """The tags of a run made from a run tagged `source_tags` by the flow whose tag is
    `flow_tag`: the owner's own tags, in their order, then `flow_tag`; no other flow tag."""
    return [tag for tag in source_tags if tag not in FLOW_TAGS and tag != flow_tag] + [flow_tag]


def retag_rerun(client: CompletionKitClient, rerun: Run, flow_tag: str) -> Run:
    """The rerun with `derived_tags` in place of the tags it copied from its source (`PATCH
    /runs/:id` with `tag_names` replaces them; the client retries that idempotent write within the
    step's deadline). When it still fails, the rerun is deleted, so it never keeps its source's
    `ckaction-baseline`, `ckaction-gate` or `ckaction-passed`, and the error says so; should the
    delete fail as well, the error names the run to delete by hand."""
    try:
        return client.set_run_tags(rerun.id, derived_tags(rerun.tag_names, flow_tag))
    except CkError as exc:
        failure = exc
    copied = ", ".join(f"`{tag}`" for tag in rerun.tag_names) or "none"
    try:
        client.delete_run(rerun.id)
    except CkError as exc:
        raise RetagFailed(
            f"Rerun {rerun.id} kept the tags it copied from its source ({copied}): replacing them "
            f"failed ({failure.message}), and so did deleting it ({exc.message}).",
            hint=f"Delete run {rerun.id} in CompletionKit before any gate or publish runs: it "
            "was never measured as what those tags claim.",
        ) from failure
    raise RetagFailed(
        f"Rerun {rerun.id} was deleted: its tags, copied from its source ({copied}), could not be "
        f"replaced with `{flow_tag}` ({failure.message}).",
        hint="Re-run the step; nothing it made is left behind.",
    ) from failure
