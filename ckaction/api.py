"""The CompletionKit REST client: typed calls, explicit timeouts, safe retries, errors that say what to fix.

Retry policy (the API has no idempotency keys and sends no Retry-After):
* reads (GET) retry on 429, 502, 503, 504, timeouts and connection errors, with jittered exponential
  backoff, honouring Retry-After when a server does send one;
* writes that are idempotent (a run's tags, deleting a run) retry like reads;
* writes that are not idempotent (create run or prompt, generate, rerun, update a prompt, publish)
  retry only when the request certainly was not applied: a 429 refusal or a failure to connect. Any
  other fault after the request may have reached the server raises `UncertainOutcome`, and the
  caller looks before it sends again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from ckaction import __version__
from ckaction.clock import Deadline, Sleep
from ckaction.errors import (
    ApiError,
    Forbidden,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    UncertainOutcome,
    Unprocessable,
    UntrustedComparison,
)
from ckaction.models import Comparison, Metric, Prompt, Response, Run
from ckaction.redact import Redactor

USER_AGENT = f"ckaction/{__version__} (+https://github.com/marketplace/actions/ckaction)"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_LIMIT = 500
# What the engine's PromptsController permits in a create or an update.
PROMPT_FIELDS = frozenset({"name", "description", "template", "llm_model", "tag_names"})
Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    max_wait: float = 30.0
    max_total: float = 120.0
    multiplier: float = 1.0


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

    # -- runs ------------------------------------------------------------------------------------

    def get_run(self, run_id: int) -> Run:
        return self._parse(Run, self._call("GET", f"runs/{run_id}", what=f"run {run_id}"))

    def list_runs(self, **filters: Any) -> Iterator[Run]:
        yield from self._paginate("runs", filters, Run, what="runs")

    def create_run(self, body: Mapping[str, Any]) -> Run:
        data = self._call("POST", "runs", json_body=dict(body), idempotent=False, what="the run")
        return self._parse(Run, data)

    def generate(self, run_id: int) -> Run:
        data = self._call("POST", f"runs/{run_id}/generate", idempotent=False, what=f"run {run_id}")
        return self._parse(Run, data)

    def rerun(self, run_id: int) -> Run:
        data = self._call("POST", f"runs/{run_id}/rerun", idempotent=False, what=f"run {run_id}")
        return self._parse(Run, data)

    def compare(self, baseline_run_id: int, candidate_run_id: int) -> Comparison:
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

    def responses(self, run_id: int) -> Iterator[Response]:
        yield from self._paginate(f"runs/{run_id}/responses", {}, Response, what=f"run {run_id}")

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
        return self._parse(Run, data)

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
        return self._parse(Prompt, data)

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
        return self._parse(Prompt, data)

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

    # -- plumbing --------------------------------------------------------------------------------

    def _paginate(
        self, path: str, filters: Mapping[str, Any], model: type[Model], *, what: str
    ) -> Iterator[Model]:
        """Every item of an index endpoint: `offset` advances by `X-Limit` to `X-Total-Count`.
        Each page's bytes are validated straight into models (no intermediate dicts)."""
        adapter = page_adapter(model, many=True)
        offset = 0
        while True:
            params = {**filters, "limit": PAGE_LIMIT, "offset": offset}
            response = self._send("GET", path, params=params, idempotent=True, what=what)
            page: list[Model] = self._validated(adapter, model, response)
            yield from page
            limit = _int_header(response, "X-Limit") or len(page)
            total = _int_header(response, "X-Total-Count")
            offset += limit
            if not page or limit <= 0 or (total is not None and offset >= total):
                return
            if total is None and len(page) < PAGE_LIMIT:
                return

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
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.retry_after is not None:
                return exc.retry_after
            backoff = wait_random_exponential(
                multiplier=self._retry.multiplier, max=self._retry.max_wait
            )
            return float(backoff(state))

        budget = self._retry.max_total
        if self._deadline is not None:
            budget = min(budget, self._deadline.left())
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            stop=stop_after_attempt(self._retry.attempts) | stop_after_delay(budget),
            wait=wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, path, params, json_body, idempotent, what)
        except _Retryable as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        idempotent: bool,
        what: str,
    ) -> httpx.Response:
        label = f"{method} /{path}"
        url = self._http.base_url
        host = f"{url.host}:{url.port}" if url.port else url.host  # what a connection tried
        try:
            response = self._http.request(method, path, params=params, json=json_body)
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
            error = TransportError(
                f"{label}: no answer in time from {host} ({type(exc).__name__})", path=path
            )
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
            if status in RETRY_STATUSES:
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
                hint=f"Check that {what} exists in this CompletionKit org.",
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
