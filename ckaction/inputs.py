"""Inputs: one validated, frozen settings object built from the runner's env or the CLI's flags.

The runner passes a Docker action's inputs as `INPUT_<NAME>` with hyphens kept (`INPUT_PROMPT-ID`),
sends `""` for inputs the workflow left unset, and does not enforce `required:`. `raw_inputs_from_env`
normalizes those names once; `Settings.parse` validates and reports every problem by its action.yml
id, so the user knows exactly which `with:` key to fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ckaction.errors import InputError
from ckaction.redact import MIN_SECRET_LENGTH

API_NAMESPACE = "/api/v1"
CLOUD_ROOT = "https://completionkit.com/orgs/{org}" + API_NAMESPACE
MAX_URL_SHOWN = 200  # characters of a rejected api-url repeated in its error
COMMANDS = ("gate", "publish", "rebaseline", "calibrate", "drift", "cleanup")
Command = Literal["gate", "publish", "rebaseline", "calibrate", "drift", "cleanup"]
RebaselineMethod = Literal["rerun", "regrade", "new-run"]
_TRUE = ("true", "True", "TRUE")
_FALSE = ("false", "False", "FALSE")
_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
SHA_DIGITS = (7, 64)  # an abbreviated SHA-1 up to a full SHA-256
SHA_PATTERN = re.compile(rf"^[0-9a-fA-F]{{{SHA_DIGITS[0]},{SHA_DIGITS[1]}}}$")
_SECRET_FIELDS = {"api_token", "github_token"}
TOKEN_ISSUERS = {"api_token": "CompletionKit", "github_token": "GitHub"}
# Values a misconfigured secret or a template slip leaves in a token (compared case-insensitively).
MAX_CONFIRM_RUNS = 10
"""confirm-runs: each is two runs of the flagged rows, so ten is already 20 runs."""
MAX_CONFIRM_ROWS = 500
"""confirm-max-rows: a confirm dataset of more rows than this is a new evaluation, not a recheck."""
PLACEHOLDER_WORDS = frozenset({"true", "false", "null", "none", "yes", "no", "on", "off"})
# Scores run 1-5, so no drop can be larger than 4; a positive tolerance is a sign typo.
TOLERANCE_FLOOR = Decimal(-5)
# Far beyond any sane report or sign-off path, well within every file system's limit.
MAX_PATH_CHARS = 1024
MAX_NAME_CHARS = 255  # one file or folder name: NAME_MAX on Linux and macOS, the limit on Windows
# What reaching CompletionKit needs, and all the CLI-only `pull` reads.
CONNECTION_FIELDS = ("api_token", "org", "api_url", "timeout_minutes")


def input_id(field_name: str) -> str:
    """The action.yml id of a settings field: `prompt_id` → `prompt-id`."""
    return field_name.replace("_", "-")


def normalize_key(key: str) -> str:
    """`INPUT_PROMPT-ID`, `prompt-id`, `PROMPT_ID` → `prompt_id`."""
    if key.upper().startswith("INPUT_"):
        key = key[len("INPUT_") :]
    return key.strip().lower().replace("-", "_").replace(" ", "_")


def raw_inputs_from_env(environ: Mapping[str, str], prefix: str = "INPUT_") -> dict[str, str]:
    """Every non-empty `<prefix><NAME>` variable, keyed by settings field name, value trimmed."""
    raw: dict[str, str] = {}
    for key, value in environ.items():
        if key.upper().startswith(prefix) and value.strip() != "":
            raw[normalize_key(key[len(prefix) :])] = value.strip()
    return raw


def _parse_bool(value: Any) -> Any:
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ValueError("expected true or false (as GitHub Actions spells booleans)")
    return value


def parse_int_id(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(r"\d+", value):
            raise ValueError(f"expected a positive integer id, got {value[:60]!r}")
        value = int(value)
    if isinstance(value, int) and value <= 0:
        raise ValueError("expected a positive integer id")
    return value


def parse_decimal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation as exc:
            raise ValueError(f"expected a number such as -1.0, got {value[:60]!r}") from exc
        if not number.is_finite():
            raise ValueError("expected a finite number")
        return number
    return value


def parse_finite_float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError as exc:
            raise ValueError(f"expected a number, got {value[:40]!r}") from exc
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    return value


def parse_url(value: str) -> str:
    """An http(s) URL without credentials: a user name or password in it would reach every run link
    (and make httpx send Basic auth instead of the token), and a query string carries keys."""
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError(
            "expected an http(s) URL such as https://completionkit.com/orgs/acme/api/v1"
        )
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError(
            "must not contain a user name or password (user:pass@host): it would show in every "
            "run link; pass the CompletionKit token as api-token from a secret"
        )
    if parts.query or parts.fragment:
        raise ValueError(
            "must not carry a query string or fragment (?key=…): keys in URLs show in every run "
            "link; pass the CompletionKit token as api-token from a secret"
        )
    return value.rstrip("/")


def check_token(token: str, issuer: str) -> None:
    """Refuse a token the redactor could not keep out of the output, or that cannot be sent.

    The messages never include the token."""
    if "\n" in token or "\r" in token:
        raise ValueError("must be one line: the secret holds several lines; store the token alone")
    if not token.isascii() or not token.isprintable():
        raise ValueError(
            "must be printable ASCII, as API tokens are: the secret holds other characters "
            "(a typographic quote or dash, an invisible character?); store the token alone"
        )
    if token.lower() in PLACEHOLDER_WORDS or token.isdigit():
        raise ValueError(
            "looks like a placeholder (a word such as true or null, or only digits), not a token: "
            f"a real {issuer} token is longer and random; check the secret's name and value"
        )
    if len(token) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"is too short to be a real token ({len(token)} characters): a real {issuer} "
            f"token is longer, and a value under {MIN_SECRET_LENGTH} characters cannot be "
            "redacted from the output without redacting ordinary words"
        )


def parse_workspace_path(value: str) -> str:
    """A path relative to the workspace that cannot leave it by its spelling (see
    `ckaction.workspace.inside` for where it really points)."""
    if "\0" in value:
        raise ValueError("must not contain a NUL character")
    if len(value) > MAX_PATH_CHARS:
        raise ValueError(f"is {len(value)} characters long; at most {MAX_PATH_CHARS} are allowed")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).anchor:
        raise ValueError("must be relative to the workspace, such as reports/ckaction.json")
    parts = re.split(r"[/\\]", value)
    if ".." in parts:
        raise ValueError("must stay inside the workspace: `..` is not allowed")
    if max(len(part) for part in parts) > MAX_NAME_CHARS:
        raise ValueError(
            f"has a file or folder name over {MAX_NAME_CHARS} characters, the most file systems allow"
        )
    return value


def parse_metric_ids(value: str) -> tuple[int, ...]:
    """Accepts `1,2,3`, `1 2 3`, newline-separated ids or a JSON list `[1, 2, 3]`."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError("expected a list of ids such as [1, 2, 3]") from exc
        if not isinstance(items, list):
            raise ValueError("expected a list of ids such as [1, 2, 3]")
        parts = [str(item) for item in items]
    else:
        parts = [part for part in re.split(r"[,\s]+", text) if part]
    if not parts:
        raise ValueError("expected at least one metric id")
    ids: list[int] = []
    for part in parts:
        if not re.fullmatch(r"\d+", part) or int(part) <= 0:
            raise ValueError(f"{part[:30]!r} is not a metric id; use 1,2,3 or [1, 2, 3]")
        if int(part) not in ids:
            ids.append(int(part))
    return tuple(ids)


class Settings(BaseModel):
    """Everything a command needs, validated. Field names are the action.yml ids with `_` for `-`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    api_token: SecretStr | None = None
    org: str | None = None
    api_url: str | None = None
    web_url: str | None = None
    command: Command = "gate"
    prompt_id: int | None = None
    baseline_run_id: int | None = None
    baseline_prompt_id: int | None = None
    dataset_id: int | None = None
    metric_ids: tuple[int, ...] | None = None
    judge_model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    row_tolerance: Decimal = Decimal("-1.0")
    avg_tolerance: Decimal = Decimal("-0.2")
    timeout_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    fail_on_regression: bool = True
    reuse_runs: bool = True
    stale_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    comment: bool = True
    comment_id: str | None = None
    github_token: SecretStr | None = None
    report_path: str = "ckaction-report.json"
    commit: str | None = None
    pr_number: int | None = None
    signoff_label: str | None = "prompt-regression-approved"
    signoffs_file: str | None = ".completionkit/signoffs.yml"
    avg_gate: Literal["band", "significant"] = "band"
    on_stale_baseline: Literal["warn", "fail"] = "warn"
    rebaseline_method: RebaselineMethod | None = None
    calibration_runs: int = Field(default=2, ge=1, le=10)
    confirm_runs: int = Field(default=0, ge=0, le=MAX_CONFIRM_RUNS)
    confirm_max_rows: int = Field(default=20, ge=1, le=MAX_CONFIRM_ROWS)
    prompt_files: str | None = None
    max_unscored: Decimal = Field(default=Decimal("0.1"), ge=0, le=1)
    require_passed_gate: bool = True
    keep_days: int = Field(default=30, ge=0, le=3650)
    dry_run: bool = True

    _bools = field_validator(
        "fail_on_regression",
        "reuse_runs",
        "comment",
        "require_passed_gate",
        "dry_run",
        mode="before",
    )(_parse_bool)
    _ids = field_validator(
        "prompt_id",
        "baseline_run_id",
        "baseline_prompt_id",
        "dataset_id",
        "pr_number",
        mode="before",
    )(parse_int_id)
    _decimals = field_validator("row_tolerance", "avg_tolerance", "max_unscored", mode="before")(
        parse_decimal
    )

    @field_validator("metric_ids", mode="before")
    @classmethod
    def _metric_ids(cls, value: Any) -> Any:
        return parse_metric_ids(value) if isinstance(value, str) else value

    @field_validator("avg_gate", "on_stale_baseline", "rebaseline_method", mode="before")
    @classmethod
    def _choice(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() not in COMMANDS:
            raise ValueError(f"expected one of {', '.join(COMMANDS)}, got {value[:40]!r}")
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("org")
    @classmethod
    def _org(cls, value: str | None) -> str | None:
        if value is not None and not _ORG.fullmatch(value):
            raise ValueError("expected an org slug such as acme-inc (letters, digits, - and _)")
        return value

    @field_validator("api_url", "web_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else parse_url(value)

    @field_validator("api_url")
    @classmethod
    def _api_root(cls, value: str | None) -> str | None:
        """The API root, without a trailing slash: every REST route of the engine is under
        `namespace :api { namespace :v1 }` (completion-kit config/routes.rb), so a root without
        it reaches the web pages, not the API."""
        if value is None:
            return None
        root = value.rstrip("/")
        if not urlsplit(root).path.endswith(API_NAMESPACE):
            raise ValueError(
                f"must be the API root, ending in {API_NAMESPACE}: "
                f"try {root[:MAX_URL_SHOWN]}{API_NAMESPACE}"
            )
        return root

    @field_validator("api_token", "github_token", mode="before")
    @classmethod
    def _token(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and value.strip():
            check_token(value, TOKEN_ISSUERS[info.field_name or ""])
        return value

    @field_validator("row_tolerance", "avg_tolerance")
    @classmethod
    def _tolerance(cls, value: Decimal) -> Decimal:
        if not TOLERANCE_FLOOR <= value <= 0:
            raise ValueError(
                f"must be between {TOLERANCE_FLOOR} and 0: the score drop a row or the mean may "
                f"show (scores run 1-5), such as -1.0; got {value}"
            )
        return value

    @field_validator("report_path", "signoffs_file")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else parse_workspace_path(value)

    @field_validator("commit")
    @classmethod
    def _commit(cls, value: str | None) -> str | None:
        if value is not None and not SHA_PATTERN.fullmatch(value):
            low, high = SHA_DIGITS
            raise ValueError(f"expected a git commit SHA, {low} to {high} hex digits")
        return value

    @field_validator("temperature", "timeout_minutes", "stale_minutes", mode="before")
    @classmethod
    def _finite_float(cls, value: Any) -> Any:
        return parse_finite_float(value)

    @property
    def api_root(self) -> str:
        if self.api_url:
            return self.api_url
        return CLOUD_ROOT.format(org=self.org)

    @property
    def web_root(self) -> str:
        """Where CompletionKit's web pages live: web-url, or the API root without /api/v1."""
        if self.web_url:
            return self.web_url
        root = self.api_root
        return root.removesuffix(API_NAMESPACE)

    @property
    def token(self) -> str:
        return self.api_token.get_secret_value() if self.api_token else ""

    @property
    def timeout_seconds(self) -> float:
        return self.timeout_minutes * 60.0

    @classmethod
    def parse(cls, raw: Mapping[str, Any], door: Door = "action") -> Settings:
        """Validate raw inputs; every problem is reported at once, named by its action.yml id."""
        return cls._checked(raw, {**conflicting(raw), **missing_required(raw, door)})

    @classmethod
    def for_connection(cls, raw: Mapping[str, Any], door: Door = "cli") -> Settings:
        """Only the inputs that reach CompletionKit (`CONNECTION_FIELDS`), for the CLI's `pull`,
        which reads nothing else; the other fields keep their defaults."""
        subset = {name: raw[name] for name in CONNECTION_FIELDS if name in raw}
        return cls._checked(subset, missing_required({**subset, "command": "pull"}, door))

    @classmethod
    def _checked(cls, raw: Mapping[str, Any], problems: dict[str, str]) -> Settings:
        try:
            settings = cls.model_validate(dict(raw))
        except ValidationError as exc:
            problems = {**_problems(exc), **problems}
            raise InputError(problems) from None
        if problems:
            raise InputError(problems)
        return settings


# Where the inputs come from, which decides how a missing token is explained.
Door = Literal["action", "cli"]
MISSING_TOKEN = {
    "action": "required: pass your CompletionKit API token from a secret, "
    "e.g. api-token: ${{ secrets.CK_API_TOKEN }}",
    "cli": "required: pass your CompletionKit API token with --api-token or, better (it stays "
    "out of your shell history), in the environment variable CKACTION_API_TOKEN",
}


def missing_required(raw: Mapping[str, Any], door: Door = "action") -> dict[str, str]:
    """The runner does not enforce `required:`, so this does, per command. Each problem reads
    after its input's name: "`prompt-id`: required for command gate ..."."""
    problems: dict[str, str] = {}
    command = str(raw.get("command") or "gate").strip().lower()

    if not _given(raw, "api_token"):
        problems["api-token"] = MISSING_TOKEN[door]
    if not _given(raw, "api_url") and not _given(raw, "org"):
        problems["org"] = "required (or set api-url): your CompletionKit org slug"
    if command in ("gate", "publish") and not (
        _given(raw, "prompt_id") or _given(raw, "prompt_files")
    ):
        problems["prompt-id"] = (
            f"required for command {command} unless prompt-files is set: the prompt version id, "
            "or prompt-files for the prompt files to gate"
        )
    if command == "drift" and not _given(raw, "prompt_files"):
        problems["prompt-files"] = "required for command drift: the prompt files to check"
    if command == "calibrate" and not (_given(raw, "prompt_id") or _given(raw, "baseline_run_id")):
        problems["prompt-id"] = (
            f"required for command {command} unless baseline-run-id is set: the prompt whose "
            "live version's last green run is rerun"
        )
    if command == "rebaseline" and not any(
        _given(raw, name) for name in ("prompt_id", "baseline_run_id", "prompt_files")
    ):
        problems["prompt-id"] = (
            f"required for command {command} unless baseline-run-id or prompt-files (one file) "
            "is set: the prompt whose live version gets a fresh baseline"
        )
    return problems


EXCLUSIVE_WITH_PROMPT_FILES = ("prompt_id", "baseline_run_id", "baseline_prompt_id")


def conflicting(raw: Mapping[str, Any]) -> dict[str, str]:
    """Inputs that cannot be set together: prompt files name their own prompts and baselines."""
    if not _given(raw, "prompt_files"):
        return {}
    return {
        input_id(name): "cannot be set together with `prompt-files`: the prompt files name the "
        "prompts, and their live versions' runs are the baselines"
        for name in EXCLUSIVE_WITH_PROMPT_FILES
        if _given(raw, name)
    }


def _given(raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is not None and str(value).strip() != ""


def _problems(exc: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for error in exc.errors(include_input=False, include_url=False):
        loc = error.get("loc") or ("inputs",)
        field = str(loc[0])
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if field in _SECRET_FIELDS and error.get("type") != "value_error":
            message = "is invalid"  # our own checks (value_error) never quote the secret
        problems.setdefault(input_id(field), message)
    return problems
