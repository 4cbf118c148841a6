"""Sign-off of expected regressions: a pull-request label, or reviewed entries in a YAML file.

File format (`.completionkit/signoffs.yml` by default), a list of entries:

    - input: "change the delivery address"   # text the row's input contains
      metric: Accuracy                       # metric name
      min-delta: -2                          # the lowest delta accepted (a broken check counts as -1)
      reason: "Terser replies drop the link; accepted by @maria"
      expires: 2026-12-31                    # required; an expired entry covers nothing
      prompt-id: 42                          # optional: only for this candidate prompt
      prompt-file: prompts/support-reply.yml # optional: only for this prompt file (prompt-files)

The label signs off every file of the step; an entry with `prompt-file` covers only that file.

A malformed file is an input error naming the file and line; a malformed or expired entry is
listed in the report and covers nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import Any

from ckaction import safefile
from ckaction.errors import InputError
from ckaction.wording import plural

KEYS = {"input", "metric", "min-delta", "reason", "expires", "prompt-id", "prompt-file"}
CHECK_BROKE_DELTA = Decimal(-1)


@dataclass(frozen=True)
class SignOff:
    input: str
    metric: str
    min_delta: Decimal
    reason: str
    expires: dt.date
    prompt_id: int | None
    where: str
    prompt_file: str | None = None

    def describe(self) -> str:
        return f"{self.where}: {self.reason} (until {self.expires.isoformat()})"


@dataclass(frozen=True)
class Rejected:
    where: str
    problem: str


@dataclass(frozen=True)
class LabelSignOff:
    label: str
    who: str | None
    merged_pull: int | None = None  # on a push to the default branch: the pull request it came from

    def describe(self) -> str:
        by = f" added by @{self.who}" if self.who else ""
        if self.merged_pull is not None:
            return f"label `{self.label}`{by} on pull request #{self.merged_pull}, merged as this commit"
        return f"label `{self.label}`{by} (while the label stays on the pull request)"


@dataclass(frozen=True)
class SignOffs:
    """Every sign-off that applies to this gate."""

    entries: tuple[SignOff, ...] = ()
    label: LabelSignOff | None = None
    prompt_id: int | None = None
    prompt_file: str | None = None  # the workspace-relative path of the file being gated

    def covering(
        self, input_text: str, metric: str, delta: Decimal | None, is_check: bool
    ) -> str | None:
        """What signs off this regression, or None."""
        if self.label is not None:
            return self.label.describe()
        effective = CHECK_BROKE_DELTA if is_check else delta
        if effective is None:
            return None
        for entry in self.entries:
            if entry.prompt_id is not None and entry.prompt_id != self.prompt_id:
                continue
            if entry.prompt_file is not None and entry.prompt_file != self.prompt_file:
                continue
            if entry.metric.casefold() != metric.casefold():
                continue
            if entry.input.casefold() not in input_text.casefold():
                continue
            if effective >= entry.min_delta:
                return entry.describe()
        return None


def load_signoffs(
    path: Path, display: str, *, today: dt.date
) -> tuple[list[SignOff], list[SignOff], list[Rejected]]:
    """(valid, expired, rejected) entries of a sign-off file; a missing file has none. The file
    comes from the pull request: read as `safefile` reads (a regular file, size capped, no YAML
    anchors or aliases)."""
    import yaml

    try:
        text = safefile.read_text(path)
        root = safefile.compose(text)
    except FileNotFoundError:
        return [], [], []
    except safefile.Refused as exc:
        raise InputError({"signoffs-file": f"{display} {exc}"}) from None
    except OSError as exc:
        raise InputError({"signoffs-file": f"{display} cannot be read ({exc.strerror})"}) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError({"signoffs-file": f"{display}{where}: {problem}"}) from None
    if root is None:
        return [], [], []
    if not isinstance(root, yaml.SequenceNode):
        raise InputError(
            {
                "signoffs-file": f"{display} line {root.start_mark.line + 1}: expected a list of entries"
            }
        )
    valid: list[SignOff] = []
    expired: list[SignOff] = []
    rejected: list[Rejected] = []
    for node in root.value:
        where = f"{display} line {node.start_mark.line + 1}"
        try:
            entry = _entry(yaml.safe_load(yaml.serialize(node)), where)
        except ValueError as exc:
            rejected.append(Rejected(where, str(exc)))
            continue
        except yaml.YAMLError as exc:  # a custom tag, an unhashable key, …
            problem = getattr(exc, "problem", None) or "not a plain YAML mapping"
            rejected.append(Rejected(where, str(problem)))
            continue
        (expired if entry.expires < today else valid).append(entry)
    return valid, expired, rejected


def _entry(data: Any, where: str) -> SignOff:
    if not isinstance(data, dict):
        raise ValueError(
            "an entry must be a mapping with input, metric, min-delta, reason, expires"
        )
    unknown = sorted(set(map(str, data)) - KEYS)
    if unknown:
        raise ValueError(f"unknown {plural(len(unknown), 'key')}: {', '.join(unknown)}")
    missing = [
        key
        for key in ("input", "metric", "min-delta", "reason", "expires")
        if data.get(key) in (None, "")
    ]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    try:
        min_delta = Decimal(str(data["min-delta"]))
        if not min_delta.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise ValueError("min-delta must be a number such as -2") from None
    expires = data["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise ValueError("expires must be a date such as 2026-12-31") from None
    if not isinstance(expires, dt.date):
        raise ValueError("expires must be a date such as 2026-12-31")
    prompt_id = data.get("prompt-id")
    if prompt_id is not None and (not isinstance(prompt_id, int) or isinstance(prompt_id, bool)):
        raise ValueError("prompt-id must be an integer")
    prompt_file = data.get("prompt-file")
    if prompt_file is not None and (not isinstance(prompt_file, str) or not prompt_file.strip()):
        raise ValueError("prompt-file must be a path such as prompts/support-reply.yml")
    return SignOff(
        input=str(data["input"]),
        metric=str(data["metric"]),
        min_delta=min_delta,
        reason=str(data["reason"]),
        expires=expires if not isinstance(expires, dt.datetime) else expires.date(),
        prompt_id=prompt_id,
        where=where,
        prompt_file=PurePosixPath(prompt_file.strip()).as_posix() if prompt_file else None,
    )


def label_signoff(
    label: str | None,
    labels: Iterable[str],
    event: dict[str, Any],
    *,
    merged_pull: int | None = None,
) -> LabelSignOff | None:
    """The label sign-off when the PR (or the merged PR `merged_pull`) carries the label; who added
    it when the event says so."""
    if not label or label not in set(labels):
        return None
    if merged_pull is not None:
        return LabelSignOff(label, None, merged_pull)
    who = None
    added = event.get("label") if isinstance(event.get("label"), dict) else None
    if event.get("action") == "labeled" and added and added.get("name") == label:
        sender = event.get("sender")
        if isinstance(sender, dict) and isinstance(sender.get("login"), str):
            who = sender["login"]
    return LabelSignOff(label, who)
