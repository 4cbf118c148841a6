"""In-memory CompletionKit: the `Emulator` facade over one mixin per resource. No HTTP.

| module | owns |
|---|---|
| `store.py` | the tables, id sequences, knobs, lock, clock and sleep; tags |
| `traffic.py` | faults, rate limit, auth, the request log |
| `catalog.py` | metrics and datasets |
| `checks.py` | check metrics as the engine defines them: the `check_config` it accepts, how it scores |
| `prompts.py` | prompt families and versions |
| `runs.py` | run settings, CRUD, responses |
| `run_views.py` | what the clock reveals of a run: settling, progress, aggregates, JSON |
| `lifecycle.py` | generate, rerun, retry_failures, regrade, `add_completed_run` |
| `compare.py` | the row-by-row comparison of two runs |
"""

from __future__ import annotations

from ckaction.emulator.compare import Compare
from ckaction.emulator.lifecycle import Lifecycle
from ckaction.emulator.traffic import Traffic


class Emulator(Lifecycle, Compare, Traffic):
    """All of one org's CompletionKit state plus the knobs tests turn. Thread-safe (one lock).

    `Emulator(token=, org=, clock=, sleep=)`; knobs: `run_duration`, `start_delay`, `pace_jitter`,
    `pace_seed`, `rate_limit`, `rate_window`, `prompt_patch_drafts`, `max_upload_bytes`,
    `judge`, `generator`, and which server to play (`surface.py`: `ignores_offset`,
    `ignores_filters`, `drops_paging_headers`, `old_engine`); hooks for tests: `faults`, `requests`,
    `errors`.
    """
