"""Which of the engine's controllers serves a path below the API root.

The engine rate-limits each controller on its own (`rate_limit to: 120, within: 1.minute`, keyed by
controller path and IP: shared/completionkit-api.md §15). Member actions (`/runs/:id/generate`,
`/runs/:id/compare`) belong to their resource's controller; nested resources
(`/runs/:id/responses`) to their own. The emulator keys its limit with this, and the client's
request budget keeps one bucket per controller.
"""

from __future__ import annotations

NESTED = frozenset({"responses"})


def controller_of(path: str) -> str:
    """`/runs/7/responses?x` → `responses`; `/runs/7/compare` → `runs`; `/prompts` → `prompts`."""
    parts = [part for part in path.split("?", 1)[0].split("/") if part]
    nested = [part for part in parts[2::2] if part in NESTED]
    return nested[-1] if nested else (parts[0] if parts else "")
