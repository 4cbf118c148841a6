"""The sticky PR comment (placeholder seam, filled in by the report issue)."""

from __future__ import annotations

from collections.abc import Mapping

from ckaction.context import RunContext
from ckaction.gha import Runner
from ckaction.inputs import Settings


def post_comment(
    body: str,
    settings: Settings,
    context: RunContext,
    runner: Runner,
    environ: Mapping[str, str],
) -> str | None:
    runner.info("PR comments are not implemented yet; the report is in the job summary.")
    return None
