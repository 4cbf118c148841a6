"""The CompletionKit REST client: typed calls, explicit timeouts, safe retries, errors that say what to fix.

Retry policy (the API has no idempotency keys and sends no Retry-After):
* reads (GET) retry on 429, any 5xx, timeouts and connection errors, with exponential backoff plus
  jitter (1, 2, 4, 8 ... s: six attempts outlast a ten-second outage), honouring Retry-After when a
  server does send one;
* writes that are idempotent (a run's tags, deleting a run) retry like reads;
* writes that are not idempotent (create run or prompt, generate, rerun, regrade, retry_failures,
  update a prompt, publish)
  retry only when the request certainly was not applied: a 429 refusal or a failure to connect. Any
  other fault after the request may have reached the server raises `UncertainOutcome`, and the
  caller looks before it sends again.

Time: every request, its answer's body included, ends within `RetryPolicy.request_seconds` and within
the step's deadline (a body sent one byte at a time would never trip a per-read timeout); retries
stop before a wait would reach the end of their budget (`stop_before_delay`, never one sleep past
it), and no wait, not even a server's Retry-After, is longer than the time left.

Listings page with `limit`/`offset` and stop at `X-Total-Count`; without it, at a short page, a page
that repeats the previous one, or an offset the server did not advance; more than `MAX_PAGES` pages
is an error naming the endpoint, never a silent cut.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from ckaction import __version__
from ckaction.clock import Clock, Deadline, Sleep
from ckaction.errors import (
    ApiError,
    EngineTooOld,
    Forbidden,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    TooManyPages,
    TransportError,
    Unauthorized,
    UncertainOutcome,
    Unprocessable,
    UntrustedComparison,
)
from ckaction.models import Comparison, Dataset, Metric, Prompt, Response, Run
from ckaction.redact import Redactor

USER_AGENT = f"ckaction/{__version__} (+https://github.com/marketplace/actions/ckaction)"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_LIMIT = 500
# The oldest engine the gate supports: 0.7.0 brought compare, rerun, paging and filters to the REST
# API (completion-kit CHANGELOG 0.7.0; tags came in 0.5.0). The README says so too.
OLDEST_ENGINE = "0.7.0"
# The engine's own 404 for an id it does not know (api/v1/base_controller.rb `not_found`); a path it
# has no route for is answered by Rails' exceptions app instead, so its body differs.
RECORD_NOT_FOUND = "Record not found"
# A request sent as the step's deadline falls (the wait's last look at a run) may take this long;
# any other ends within the deadline.
LAST_LOOK_SECONDS = 10.0
MAX_PAGES = 200  # 100,000 items: a listing that never ends is an error, not a hang
# What the engine's PromptsController permits in a create or an update.
PROMPT_FIELDS = frozenset({"name", "description", "template", "llm_model", "tag_names"})
Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long one call may take: `attempts` tries, waits growing from `first_wait` (doubling,
    plus up to `jitter`, at most `max_wait`), all within `max_total` seconds; one request, its
    answer's body included, within `request_seconds`."""

    attempts: int = 6
    first_wait: float = 1.0
    jitter: float = 1.0
    max_wait: float = 30.0
    max_total: float = 120.0
    request_seconds: float = 120.0


@dataclass(frozen=True)
class stop_before_deadline(stop_base):
    """`stop_before_delay` on the injected clock: stop when the next wait would reach `at`.
    (tenacity measures its delay on the real monotonic clock; the step's deadline is on `clock`,
    the same one in production and a fake one in tests.)"""

    at: float
    clock: Clock = field(compare=False)

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.at


def default_timeout() -> httpx.Timeout:
    return httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


def build_http_client(
    api_root: str,
    token: str,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: httpx.Timeout | None = None,
) -> httpx.Client:
    """The one httpx client the gate uses: base URL, bearer auth, User-Agent, explicit timeouts.

    `transport` is the composition root's choice: the network (default, no transport-level
    retries: the client's policy owns retries) or, in tests, the emulator in-process."""
    return httpx.Client(
        base_url=api_root.rstrip("/") + "/",
        headers={
            "Authorization": f"Bearer {token}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        },
        timeout=timeout or default_timeout(),
        transport=transport or httpx.HTTPTransport(retries=0),
    )


class _BoundedStream(httpx.SyncByteStream):
    """An answer's body that must have arrived by `at` (on `clock`): each chunk is checked, so a
    server that drips its answer a byte at a time cannot hold the step."""

    def __init__(
        self,
        inner: httpx.SyncByteStream | httpx.AsyncByteStream,
        request: httpx.Request,
        at: float,
        limit: float,
        clock: Clock,
    ) -> None:
        assert isinstance(inner, httpx.SyncByteStream)
        self._inner = inner
        self._request = request
        self._at = at
        self._limit = limit
        self._clock = clock

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if self._clock() > self._at:
                raise httpx.ReadTimeout(
                    f"the answer took more than {self._limit:g} s", request=self._request
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _at_most(value: float | None, limit: float) -> float:
    return limit if value is None else min(value, limit)


class _Retryable(Exception):
    """Internal: a failure the policy may retry; carries the error to raise when retries run out."""

    def __init__(self, error: ApiError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, min(float(value), 120.0))
    except ValueError:
        return None


class CompletionKitClient:
    """Typed calls over an injected httpx client (its base URL is the API root)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        redact: Redactor | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        self._http = http
        self._redact = redact or Redactor()
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        # The step's timeout-minutes: retries never outlast it.
        self._deadline = deadline
        self._engine_probed = False

    # -- runs ------------------------------------------------------------------------------------

    def get_run(self, run_id: int) -> Run:
        return self._parse(Run, self._call("GET", f"runs/{run_id}", what=f"run {run_id}"))

    def list_runs(self, **filters: Any) -> Iterator[Run]:
        yield from self._paginate("runs", filters, Run, what="runs")

    def create_run(self, body: Mapping[str, Any]) -> Run:
        data = self._call("POST", "runs", json_body=dict(body), idempotent=False, what="the run")
        return _tags_kept(self._parse(Run, data), body.get("tag_names", ()))

    def generate(self, run_id: int) -> Run:
        data = self._call("POST", f"runs/{run_id}/generate", idempotent=False, what=f"run {run_id}")
        return self._parse(Run, data)

    def rerun(self, run_id: int) -> Run:
        path = f"runs/{run_id}/rerun"
        with _unrouted_means_too_old("rerun"):
            data = self._call("POST", path, idempotent=False, what=f"run {run_id}")
        return self._parse(Run, data)

    def regrade(self, run_id: int) -> Run:
        """`POST /runs/:id/regrade`: re-judge the run's succeeded responses in place under the
        metrics' current versions, without generating again (the run is `running` meanwhile).
        Not retried after it may have landed: the caller reads the run first."""
        with _unrouted_means_too_old("regrade"):
            data = self._call(
                "POST", f"runs/{run_id}/regrade", idempotent=False, what=f"run {run_id}"
            )
        return self._parse(Run, data)

    def retry_failures(self, run_id: int) -> Run:
        """`POST /runs/:id/retry_failures`: queue the run's failed rows again, in place (409 when
        a metric's version moved since the run was judged). Not retried after it may have
        landed: the caller reads the run first."""
        with _unrouted_means_too_old("retry_failures"):
            data = self._call(
                "POST", f"runs/{run_id}/retry_failures", idempotent=False, what=f"run {run_id}"
            )
        return self._parse(Run, data)

    def probe_engine(self, run_id: int) -> None:
        """Once per client, before the gate pays for a run: compare `run_id` with itself (free;
        HEAD, which Rails routes as the GET, so no rows are downloaded). An engine without compare
        answers 404 and raises `EngineTooOld` here, before anything was spent: the run was just
        read, so the 404 is the route's, not the run's."""
        if self._engine_probed:
            return
        try:
            self._send(
                "HEAD",
                f"runs/{run_id}/compare",
                params={"with": run_id},
                idempotent=True,
                what=f"run {run_id}",
            )
        except NotFound as exc:
            raise _too_old("compare", exc) from None
        self._engine_probed = True

    def compare(self, baseline_run_id: int, candidate_run_id: int) -> Comparison:
        with _unrouted_means_too_old("compare"):
            response = self._send(
                "GET",
                f"runs/{baseline_run_id}/compare",
                params={"with": candidate_run_id},
                idempotent=True,
                what=f"run {baseline_run_id} or run {candidate_run_id}",
            )
        comparison: Comparison = self._validated(
            page_adapter(Comparison, many=False), Comparison, response
        )
        asked = (baseline_run_id, candidate_run_id)
        answered = (comparison.left_run_id, comparison.right_run_id)
        if answered != asked:
            raise UntrustedComparison(
                f"Asked to compare run {baseline_run_id} with run {candidate_run_id}, CompletionKit "
                f"answered with a comparison of run {answered[0]} with run {answered[1]}.",
                path=response.request.url.path,
                hint="A proxy or an incompatible server may sit at api-url; re-run the gate.",
            )
        return comparison

    def responses(self, run_id: int, fields: Sequence[str] = ()) -> Iterator[Response]:
        """The run's responses, ordered by id. `fields` (engine 0.28.25+, CHANGELOG #160) asks
        for only those keys (`id` always; `reviews.<key>` trims each review); an older engine
        ignores it and sends whole responses, which read the same."""
        filters = {"fields": ",".join(fields)} if fields else {}
        yield from self._paginate(
            f"runs/{run_id}/responses", filters, Response, what=f"run {run_id}"
        )

    def set_run_tags(self, run_id: int, tag_names: Sequence[str]) -> Run:
        """Replace the run's tags (`PATCH /runs/:id` with `tag_names`). Sending the same tags
        again gives the same run, so this write is retried like a read."""
        data = self._call(
            "PATCH",
            f"runs/{run_id}",
            json_body={"tag_names": list(tag_names)},
            idempotent=True,
            what=f"run {run_id}",
        )
        return _tags_kept(self._parse(Run, data), tag_names)

    def delete_run(self, run_id: int) -> None:
        """Delete the run (`DELETE /runs/:id`). Retried like a read: afterwards the run is gone,
        and a 404 (deleted already, perhaps by an attempt whose answer was lost) means just that."""
        try:
            self._send("DELETE", f"runs/{run_id}", idempotent=True, what=f"run {run_id}")
        except NotFound:
            return

    # -- prompts and metrics ---------------------------------------------------------------------

    def get_prompt(self, ident: int | str) -> Prompt:
        return self._parse(Prompt, self._call("GET", f"prompts/{ident}", what=f"prompt {ident}"))

    def publish_prompt(self, prompt_id: int) -> Prompt:
        data = self._call(
            "POST", f"prompts/{prompt_id}/publish", idempotent=False, what=f"prompt {prompt_id}"
        )
        return self._parse(Prompt, data)

    def create_prompt(
        self,
        name: str,
        template: str,
        llm_model: str,
        description: str | None = None,
        tag_names: Sequence[str] = (),
    ) -> Prompt:
        """`POST /prompts`: always a new family (version 1, current). Not idempotent: a resend
        would start a second family."""
        body: dict[str, Any] = {"name": name, "template": template, "llm_model": llm_model}
        if description is not None:
            body["description"] = description
        if tag_names:
            body["tag_names"] = list(tag_names)
        data = self._call("POST", "prompts", json_body=body, idempotent=False, what="the prompt")
        return _tags_kept(self._parse(Prompt, data), tag_names)

    def update_prompt(self, prompt_id: int, **fields: Any) -> Prompt:
        """`PATCH /prompts/:id` with `fields` (of `PROMPT_FIELDS`). The engine answers a new,
        published version when the row has runs and edits it in place otherwise: read `id`,
        `version_number` and `current` from the answer. Not idempotent (a resend after a lost
        answer would make a second version); unknown fields are refused here because the engine
        would drop them silently."""
        unknown = set(fields) - PROMPT_FIELDS
        if unknown:
            raise ValueError(f"update_prompt: not prompt fields: {', '.join(sorted(unknown))}")
        data = self._call(
            "PATCH",
            f"prompts/{prompt_id}",
            json_body=fields,
            idempotent=False,
            what=f"prompt {prompt_id}",
        )
        return _tags_kept(self._parse(Prompt, data), fields.get("tag_names", ()))

    def delete_prompt(self, prompt_id: int) -> None:
        """Delete that version row and its runs (`DELETE /prompts/:id`). Retried like a read: a 404
        (deleted already, perhaps by an attempt whose answer was lost) means just that."""
        try:
            self._send(
                "DELETE", f"prompts/{prompt_id}", idempotent=True, what=f"prompt {prompt_id}"
            )
        except NotFound:
            return

    def list_prompts(self, **filters: Any) -> Iterator[Prompt]:
        """Every prompt version row, newest first (`tag[]` filters); reading the index is not a
        production serve, each `GET /prompts/:id` is."""
        yield from self._paginate("prompts", filters, Prompt, what="prompts")

    def get_metric(self, metric_id: int) -> Metric:
        return self._parse(
            Metric, self._call("GET", f"metrics/{metric_id}", what=f"metric {metric_id}")
        )

    # -- datasets --------------------------------------------------------------------------------

    def create_dataset(self, name: str, csv_data: str, tag_names: Sequence[str] = ()) -> Dataset:
        """`POST /datasets` with `csv_data`. Not idempotent: a resend would make a second one."""
        body: dict[str, Any] = {"name": name, "csv_data": csv_data}
        if tag_names:
            body["tag_names"] = list(tag_names)
        data = self._call("POST", "datasets", json_body=body, idempotent=False, what="the dataset")
        return self._parse(Dataset, data)

    def list_datasets(self, **filters: Any) -> Iterator[Dataset]:
        """Every dataset, newest first (`tag[]` filters)."""
        yield from self._paginate("datasets", filters, Dataset, what="datasets")

    def delete_dataset(self, dataset_id: int) -> None:
        """Delete the dataset and, as the engine does (`has_many :runs, dependent: :destroy`,
        `app/models/completion_kit/dataset.rb`), its runs. A 404 means it is gone already."""
        try:
            self._send(
                "DELETE", f"datasets/{dataset_id}", idempotent=True, what=f"dataset {dataset_id}"
            )
        except NotFound:
            return

    # -- plumbing --------------------------------------------------------------------------------

    def _paginate(
        self, path: str, filters: Mapping[str, Any], model: type[Model], *, what: str
    ) -> Iterator[Model]:
        """Every item of an index endpoint, page by page (`offset` advances by `X-Limit`). Stops at
        `X-Total-Count`; without it, at a short page; and whatever the headers say, at a page that
        repeats the previous one or one served from another offset than asked (a server that
        ignores `offset`). More than `MAX_PAGES` pages is `TooManyPages`. Each page's bytes are
        validated straight into models (no intermediate dicts)."""
        adapter = page_adapter(model, many=True)
        offset = 0
        previous: list[Model] | None = None
        for _ in range(MAX_PAGES):
            params = {**filters, "limit": PAGE_LIMIT, "offset": offset}
            response = self._send("GET", path, params=params, idempotent=True, what=what)
            page: list[Model] = self._validated(adapter, model, response)
            served_from = _int_header(response, "X-Offset")
            if page == previous or (served_from is not None and served_from != offset):
                return
            yield from page
            limit = _int_header(response, "X-Limit") or PAGE_LIMIT
            total = _int_header(response, "X-Total-Count")
            offset += limit
            if not page or limit <= 0 or (total is not None and offset >= total):
                return
            if total is None and len(page) < limit:
                return
            previous = page
        raise TooManyPages(
            f"GET /{path}: more than {MAX_PAGES} pages of {PAGE_LIMIT}; the listing was not read "
            "to its end.",
            path=path,
            hint="CompletionKit (or a proxy at api-url) kept answering full pages; check api-url, "
            "or delete old runs and prompts you no longer need.",
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        what: str,
    ) -> Any:
        response = self._send(
            method, path, params=params, json_body=json_body, idempotent=idempotent, what=what
        )
        return self._json(response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotent: bool,
        what: str,
    ) -> httpx.Response:
        clock = self._deadline.clock if self._deadline is not None else time.monotonic
        budget = self._retry.max_total
        if self._deadline is not None:
            budget = min(budget, self._deadline.left())
        stop_at = clock() + budget
        backoff = wait_exponential_jitter(
            initial=self._retry.first_wait, max=self._retry.max_wait, jitter=self._retry.jitter
        )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.retry_after is not None:
                chosen = exc.retry_after
            else:
                chosen = float(backoff(state))
            return min(chosen, max(0.0, stop_at - clock()))

        retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            stop=stop_after_attempt(self._retry.attempts)
            | stop_before_delay(budget)
            | stop_before_deadline(stop_at, clock),
            wait=wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, path, params, json_body, idempotent, what, clock)
        except _Retryable as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_limit(self) -> float:
        """How long the next request may take, its answer's body included: what is left of the
        step, or `LAST_LOOK_SECONDS` for one sent as the deadline falls (the wait's last look)."""
        limit = self._retry.request_seconds
        if self._deadline is not None:
            limit = min(limit, max(self._deadline.left(), LAST_LOOK_SECONDS))
        return limit

    def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        clock: Clock,
    ) -> httpx.Response:
        """One request and its whole answer within `_request_limit()`: every phase's timeout is cut
        to the time left, and the body is read through `_BoundedStream`, which gives up when the
        time is out however steadily the bytes trickle in."""
        limit = self._request_limit()
        ends = clock() + limit
        configured = self._http.timeout
        timeout = httpx.Timeout(
            connect=_at_most(configured.connect, limit),
            read=_at_most(configured.read, limit),
            write=_at_most(configured.write, limit),
            pool=_at_most(configured.pool, limit),
        )
        request = self._http.build_request(
            method, path, params=params, json=json_body, timeout=timeout
        )
        response = self._http.send(request, stream=True)
        response.stream = _BoundedStream(response.stream, request, ends, limit, clock)
        try:
            response.read()
        finally:
            response.close()
        return response

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        idempotent: bool,
        what: str,
        clock: Clock,
    ) -> httpx.Response:
        label = f"{method} /{path}"
        url = self._http.base_url
        host = f"{url.host}:{url.port}" if url.port else url.host  # what a connection tried
        try:
            response = self._exchange(method, path, params, json_body, clock)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Never reached the server: safe to retry even a write.
            raise _Retryable(
                TransportError(
                    f"{label}: could not connect to CompletionKit at {host} ({type(exc).__name__})",
                    path=path,
                    hint="Check api-url / org and that the runner can reach the API.",
                )
            ) from None
        except httpx.TimeoutException as exc:
            said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            error = TransportError(f"{label}: no answer in time from {host} ({said})", path=path)
            if idempotent:
                raise _Retryable(error) from None
            raise UncertainOutcome(str(error), path=path) from None
        except httpx.TransportError as exc:
            error = TransportError(
                f"{label}: connection to {host} failed ({type(exc).__name__})", path=path
            )
            if idempotent:
                raise _Retryable(error) from None
            raise UncertainOutcome(str(error), path=path) from None

        status = response.status_code
        if status < 400:
            return response
        api_error = self._error(response, label, what)
        if status == 429:
            raise _Retryable(api_error, _retry_after(response))
        if status in RETRY_STATUSES or status >= 500:
            if not idempotent:
                raise UncertainOutcome(api_error.message, status=status, path=path)
            # Any 5xx on a request that may be sent again: a status poll outlives a server hiccup.
            raise _Retryable(api_error, _retry_after(response))
        raise api_error

    def _error(self, response: httpx.Response, label: str, what: str) -> ApiError:
        status = response.status_code
        body: Any = None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        server_says = ""
        details = ""
        if isinstance(body, dict):
            server_says = self._redact(str(body.get("error") or ""))[:300]
            if body.get("details"):
                # Redact before serialising: json.dumps escapes a secret into another string.
                redacted = self._redact.tree(body["details"])
                details = json.dumps(redacted, ensure_ascii=False)[:800]
        elif response.text:
            # Redact the whole text before cutting it: a cut could split a secret in two.
            server_says = self._redact(response.text)[:200]
        said = f" ({server_says})" if server_says else ""
        path = response.request.url.path
        if status == 401:
            return Unauthorized(
                f"{label}: 401 Unauthorized{said}",
                status=status,
                path=path,
                hint="The api-token was refused. Check that the secret holds a current "
                "CompletionKit API token (Settings → API tokens) for this org, and that org / "
                "api-url point at that org.",
            )
        if status == 403:
            return Forbidden(
                f"{label}: 403 Forbidden{said}",
                status=status,
                path=path,
                hint="The api-token may not do this; use a token with access to this org.",
            )
        if status == 404:
            return NotFound(
                f"{label}: 404, {what} was not found{said}",
                status=status,
                path=path,
                hint=f"Check that {what} exists in this CompletionKit org, and that `org` or "
                f"`api-url` names that org: the request went to "
                f"{self._redact(str(response.request.url.copy_with(query=None)))}.",
            )
        if status == 422:
            extra = f"; details: {details}" if details else ""
            return Unprocessable(
                f"{label}: 422, CompletionKit refused the request{said}{extra}",
                status=status,
                path=path,
                hint="Fix the inputs the API names above.",
            )
        if status == 429:
            return RateLimited(
                f"{label}: 429, rate limit exceeded after retries{said}",
                status=status,
                path=path,
                hint="Too many requests for this token or IP; run fewer gates at once.",
            )
        if status >= 500:
            return ServerError(
                f"{label}: {status} from CompletionKit{said}",
                status=status,
                path=path,
                hint="CompletionKit had a server error; re-run the job later.",
            )
        return ApiError(f"{label}: HTTP {status}{said}", status=status, path=path)

    def _json(self, response: httpx.Response) -> Any:
        """The answer's JSON, every string in it redacted: a server may echo our token anywhere,
        and what we show of its text may be cut later."""
        try:
            return self._redact.tree(_writable(response.json()))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise self._not_json(response) from None

    @staticmethod
    def _not_json(response: httpx.Response) -> MalformedResponse:
        return MalformedResponse(
            f"{response.request.method} {response.request.url.path}: "
            f"the API answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
            path=response.request.url.path,
            hint="A proxy or an incompatible server may sit at api-url.",
        )

    def _validated(
        self, adapter: TypeAdapter[T], model: type[BaseModel], response: httpx.Response
    ) -> T:
        """The body validated straight into models (no intermediate tree of dicts): half the memory
        and twice the speed on 10,000 rows. Not JSON and not the model are told apart. Redacted
        first (every JSON-escaped spelling of a secret is registered): what we show of a row's text
        may be cut later, and a cut must never leave a secret's first characters."""
        text = self._redact(response.text)
        try:
            return adapter.validate_json(text)
        except ValidationError as exc:
            if not any(error.get("type") == "json_invalid" for error in exc.errors()):
                raise self._unreadable(model, exc) from None
        # Not JSON to pydantic; perhaps JSON with a lone surrogate escape (`\ud800`), which one
        # row's text may carry: that text is replaced, not the whole answer refused.
        try:
            tree = _writable(json.loads(text))
        except (json.JSONDecodeError, RecursionError):
            raise self._not_json(response) from None
        try:
            return adapter.validate_python(tree)
        except ValidationError as exc:
            raise self._unreadable(model, exc) from None

    def _parse(self, model: type[Model], data: Any) -> Model:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise self._unreadable(model, exc) from None

    @staticmethod
    def _unreadable(model: type[BaseModel], exc: ValidationError) -> MalformedResponse:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return MalformedResponse(
            f"The API returned a {model.__name__} we cannot read "
            f"({where or 'body'}: {first.get('msg')})",
            hint="api-url may point at an incompatible server.",
        )


@contextmanager
def _unrouted_means_too_old(endpoint: str) -> Iterator[None]:
    """A 404 that is not the engine's own "Record not found" means the path has no route: an
    engine older than the gate needs."""
    try:
        yield
    except NotFound as exc:
        if RECORD_NOT_FOUND in exc.message:
            raise
        raise _too_old(endpoint, exc) from None


def _too_old(endpoint: str, exc: NotFound) -> EngineTooOld:
    return EngineTooOld(
        f"CompletionKit has no `{endpoint}` endpoint ({exc.path} answered 404): it came in "
        f"CompletionKit {OLDEST_ENGINE}, and the gate needs {OLDEST_ENGINE} or newer.",
        status=exc.status,
        path=exc.path,
        hint=f"Upgrade CompletionKit to {OLDEST_ENGINE} or newer, or check that api-url points "
        "at CompletionKit's REST API (`.../api/v1`).",
    )


Tagged = TypeVar("Tagged", Run, Prompt)


def _tags_kept(answer: Tagged, sent: Sequence[str]) -> Tagged:
    """The answer of a write that sent `tag_names`, checked to carry them (the engine downcases and
    strips them): an engine before tags (0.5.0) drops them silently, and a gate that finds its runs
    by tag would then pay for them again."""
    kept = set(answer.tag_names)
    dropped = [tag for tag in sent if tag.strip().lower() not in kept]
    if dropped:
        kind = "run" if isinstance(answer, Run) else "prompt"
        raise EngineTooOld(
            f"CompletionKit dropped the tags {', '.join(dropped)} sent with {kind} {answer.id}: an "
            f"engine without tags, older than the {OLDEST_ENGINE} the gate needs.",
            hint=f"Upgrade CompletionKit to {OLDEST_ENGINE} or newer.",
        )
    return answer


LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""Valid in JSON as an escape, not writable as UTF-8: never a character anyone meant to show."""


def _writable(value: Any) -> Any:
    """A JSON tree whose text can be written as UTF-8: a lone surrogate becomes U+FFFD."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_writable(item) for item in value]
    if isinstance(value, dict):
        return {key: _writable(item) for key, item in value.items()}
    return value


@cache
def page_adapter(model: type[BaseModel], *, many: bool) -> TypeAdapter[Any]:
    """A validator for one `model` or a page (list) of them, built once per model."""
    return TypeAdapter(list[model] if many else model)  # type: ignore[valid-type]


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None
