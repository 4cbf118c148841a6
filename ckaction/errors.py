"""The errors ckaction expects: each carries a title, a message and a hint that says what to fix.

Anything raised from here is reported as a clean error (exit 2), never as a traceback.
"""

from __future__ import annotations

# How a step ends: the exit code the runner (or a shell) sees.
EXIT_OK, EXIT_REGRESSED, EXIT_ERROR = 0, 1, 2


class CkError(Exception):
    """An expected failure: reported with its title, message and hint, exit code 2."""

    title = "ckaction failed"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(CkError):
    """One or more inputs are invalid; `problems` maps each action.yml input id to what is wrong."""

    title = "Invalid input"

    def __init__(self, problems: dict[str, str], *, hint: str = "") -> None:
        self.problems = dict(problems)
        lines = [f"`{name}`: {problem}" for name, problem in self.problems.items()]
        super().__init__("; ".join(lines), hint=hint)


class ConfigurationError(CkError):
    """The inputs are well-formed but describe a gate that cannot measure anything."""

    title = "Gate misconfigured"


class PublishRefused(ConfigurationError):
    """Publish stops before it writes anything: a file cannot be released as it is."""

    title = "Publish refused"


class ApiError(CkError):
    """CompletionKit answered with an error, or could not be reached."""

    title = "CompletionKit API error"

    def __init__(
        self, message: str, *, status: int | None = None, path: str = "", hint: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.path = path


class Unauthorized(ApiError):
    """401: the token is missing, wrong, revoked or for another org."""


class Forbidden(ApiError):
    """403: the token may not do this."""


class NotFound(ApiError):
    """404: an id does not exist in this org."""


class Unprocessable(ApiError):
    """422: the API refused the request; `details` holds its per-field reasons."""


class RateLimited(ApiError):
    """429 after every retry was spent."""


class ServerError(ApiError):
    """5xx after every retry was spent."""


class TransportError(ApiError):
    """The API could not be reached (connection, TLS or timeout) after every retry was spent."""


class EngineTooOld(ApiError):
    """CompletionKit lacks something the gate needs (compare, rerun, tags): an engine older than
    `api.OLDEST_ENGINE`."""

    title = "CompletionKit too old"


class TooManyPages(ApiError):
    """A listing went on past `api.MAX_PAGES` pages: it is refused, never silently cut."""


class MalformedResponse(ApiError):
    """The API answered 2xx with a body that is not the JSON we expect."""


class UntrustedComparison(ApiError):
    """A compare answer contradicts itself or the runs it claims to compare: the verdict would
    rest on numbers the gate cannot check, so it is refused."""

    title = "Comparison refused"


class UncertainOutcome(ApiError):
    """A non-idempotent request may or may not have been applied (timeout or 5xx after sending)."""


class RunFailed(CkError):
    """The candidate (or a baseline) run ended `failed` on CompletionKit."""

    title = "Evaluation run failed"


class GateTimeout(CkError):
    """The run did not finish within timeout-minutes."""

    title = "Timed out"


class NothingMeasured(CkError):
    """The run completed, but there is nothing to compare: no scores, or no paired rows."""

    title = "Nothing was measured"


class StaleBaseline(CkError):
    """The baseline was scored under other conditions and on-stale-baseline is fail."""

    title = "Stale baseline"
