"""The emulator's state: one org's tables, id sequences, knobs, and the tags every resource shares.

No HTTP. Every public method of the resource mixins takes the state lock, reads the injectable
clock once, and returns JSON-ready values exactly as the REST API v1 would serialize them (see
/work/shared/completionkit-api.md). Errors are raised as `ApiError(status, error, details)`; the
HTTP layer renders them.
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ckaction.emulator.checks import ruby_to_s
from ckaction.emulator.faults import Fault, RequestRecord
from ckaction.emulator.judging import Generator, JsonDict, Judge, default_generator, default_judge
from ckaction.emulator.records import (
    ApiError,
    DatasetRec,
    MetricRec,
    Page,
    PromptRec,
    Query,
    RunRec,
    TagRec,
    iso_now,
    paginate,
)


class _HasTags(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def tag_ids(self) -> list[int]: ...


Tagged = TypeVar("Tagged", bound=_HasTags)

TAG_COLORS = ("#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777")
DEFAULT_RATE_LIMIT = 120  # requests per client per window
DEFAULT_RATE_WINDOW_SECONDS = 60.0
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # the engine's CSV upload limit
# completion-kit `app/models/completion_kit/tag.rb`: names are stripped and downcased, then must
# match /\A[\w\s\-]+\z/ (Ruby's \w is ASCII) and be at most 64 characters.
TAG_NAME = re.compile(r"[A-Za-z0-9_ \t\r\n\f\v-]+")
MAX_TAG_LENGTH = 64


TAG_SCALARS = (str, int, float, bool, type(None))  # what strong parameters permit in an array
RECORD_INVALID = "Unprocessable Content"  # Rails' public error text for a 422 nobody rescued


def normalize_tag_name(raw: str) -> str:
    """`Taggable#tag_names=`: stripped and downcased."""
    return raw.strip().lower()


@dataclass
class RateWindow:
    """One rate-limit counter: when its minute started, and the requests counted in it."""

    started: float
    count: int = 0


class Store:
    """All of one org's state plus the knobs tests turn. Thread-safe (one re-entrant lock).

    The resource mixins (`Catalog`, `Prompts`, `Runs`, ...) add the endpoints over these tables.
    `clock` times the run lifecycle and the rate limit; `sleep` waits out an injected fault's
    delay (the in-process transport calls it instead of sleeping for real when it is injected).
    """

    def __init__(
        self,
        token: str | None = "ck-test-token",  # noqa: S107 - the emulator's fixed test token
        org: str = "acme",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token
        self.org = org
        self.clock = clock
        self.sleep = sleep
        self.run_duration: float = 1.0
        self.start_delay: float = 0.0
        self.pace_jitter: float = 0.0  # row-to-row spread of finish times, in row intervals
        self.pace_seed: int = 0
        self.rate_limit: int | None = DEFAULT_RATE_LIMIT
        self.rate_window: float = DEFAULT_RATE_WINDOW_SECONDS
        # PATCH of a prompt with runs publishes its new version, as every readable engine does;
        # True makes that version a draft (only for the client's publish-a-draft branch).
        self.prompt_patch_drafts: bool = False
        self.max_upload_bytes: int = MAX_UPLOAD_BYTES
        # Which server to play (surface.py): a listing that misbehaves, or the 0.3.0 engine.
        self.ignores_offset: bool = False
        self.ignores_filters: bool = False
        self.drops_paging_headers: bool = False
        self.old_engine: bool = False
        self.judge: Judge = default_judge
        self.generator: Generator = default_generator
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.late_writes: list[tuple[float, Callable[[], object]]] = []  # Fault.lands_after
        self.errors: list[str] = []  # tracebacks of unexpected exceptions (500s, judge crashes)
        self.lock = threading.RLock()
        self._tags: dict[int, TagRec] = {}
        self._metrics: dict[int, MetricRec] = {}
        self._datasets: dict[int, DatasetRec] = {}
        self._prompts: dict[int, PromptRec] = {}
        self._runs: dict[int, RunRec] = {}
        self._version_types: dict[int, str] = {}  # metric version id -> the metric_type it scored
        self._sequences: dict[str, int] = {}
        self._windows: dict[str, RateWindow] = {}  # rate limit: one per controller and client

    @property
    def api_root_path(self) -> str:
        return f"/orgs/{self.org}/api/v1"

    def now(self) -> float:
        return self.clock()

    def _next(self, table: str) -> int:
        value = self._sequences.get(table, 0) + 1
        self._sequences[table] = value
        return value

    def note_error(self) -> None:
        """Keep the traceback of the exception being handled (a 500, a crashing judge)."""
        self.errors.append(traceback.format_exc())

    # -- tags ----------------------------------------------------------------------------------------

    def _tag_ids(self, names: Iterable[str]) -> list[int]:
        ids: list[int] = []
        for raw in names:
            name = normalize_tag_name(raw)
            if not name:
                continue
            tag = next((t for t in self._tags.values() if t.name == name), None)
            if tag is None:
                stamp = iso_now()
                tag_id = self._next("tag")
                color = TAG_COLORS[(tag_id - 1) % len(TAG_COLORS)]
                tag = TagRec(tag_id, name, color, stamp, stamp)
                self._tags[tag_id] = tag
            if tag.id not in ids:
                ids.append(tag.id)
        return ids

    def _tags_json(self, tag_ids: Sequence[int]) -> list[JsonDict]:
        return [self._tags[i].to_json() for i in tag_ids if i in self._tags]

    def _tag_names(self, tag_ids: Sequence[int]) -> list[str]:
        return [self._tags[i].name for i in tag_ids if i in self._tags]

    @staticmethod
    def _tag_names_from(body: Mapping[str, Any]) -> list[str] | None:
        """`tag_names` as the engine takes it, or None to leave the tags alone.

        Strong parameters (`tag_names: []`) keep only an array of scalars: a string, an object or
        an array holding one is dropped silently, as if absent. `Taggable#tag_names=` then strips,
        downcases, drops blanks and repeats, and `Tag.find_or_create_by!` validates each name
        (completion-kit `app/models/completion_kit/tag.rb`, `concerns/completion_kit/taggable.rb`
        @3c745f05). An invalid name raises `ActiveRecord::RecordInvalid` during the assignment,
        before the record's own validations, and no API controller rescues it (`base_controller.rb`
        @65906c2f): Rails answers 422 through its exception handling, with no `details`."""
        value = body.get("tag_names")
        if not isinstance(value, list) or not all(isinstance(v, TAG_SCALARS) for v in value):
            return None
        names: list[str] = []
        for name in (normalize_tag_name(ruby_to_s(v)) for v in value):
            if name and name not in names:
                names.append(name)
        for name in names:
            if len(name) > MAX_TAG_LENGTH or not TAG_NAME.fullmatch(name):
                raise ApiError(422, RECORD_INVALID)
        return names

    @staticmethod
    def _tag_filter(query: Query) -> set[str]:
        return {v for key in ("tag[]", "tag") for v in query.get(key, []) if v}

    def _drop_runs(self, doomed: Callable[[RunRec], bool]) -> None:
        """The engine's cascade: deleting a prompt version or a dataset deletes its runs."""
        for run_id in [run.id for run in self._runs.values() if doomed(run)]:
            del self._runs[run_id]

    def _list_tagged(
        self, records: Mapping[int, Tagged], to_json: Callable[[Tagged], JsonDict], query: Query
    ) -> Page:
        """An index endpoint: newest first, `tag[]` OR-ed, paged."""
        with self.lock:
            wanted = self._tag_filter(query)
            items = [
                to_json(record)
                for record in sorted(records.values(), key=lambda r: r.id, reverse=True)
                if not wanted or wanted & set(self._tag_names(record.tag_ids))
            ]
            return paginate(items, query)
