"""Check metrics as the engine defines them: which `check_config` it accepts, and how it scores one.

Followed from `homemade-software-inc/completion-kit` @079303e1:
* `app/controllers/completion_kit/api/v1/metrics_controller.rb` `metric_params`: `check_config`
  keeps only the permitted scalar keys (`PERMITTED_KEYS`); any other key is dropped silently, and a
  value that is not an object is dropped whole.
* `app/models/completion_kit/metric.rb` `validate_check_config` (checks only): the messages below,
  all under the `check_config` attribute.
* `app/services/completion_kit/checks/registry.rb`: the kinds and their required keys.
* `app/jobs/completion_kit/check_review_job.rb`: the target (`target_resolver.rb`), `compare_to:
  expected` (`expected_resolver.rb`), then the kind's class (`checks/*.rb`); an unknown kind raises
  (`CHECKS.fetch`) and the job records the review `failed`, never passed.

Ruby regular expressions are run as Python ones: `^`/`$` match at line ends in Ruby, so `re.M`
always; Ruby's `multiline: true` is Python's `re.S`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# `registry.rb` REQUIRED_KEYS: the keys each kind needs.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "contains": ("value",),
    "not_contains": ("value",),
    "equals": ("value",),
    "regex": ("pattern",),
    "valid_json": (),
    "json_path_equals": ("json_path", "expected"),
    "length_bounds": (),
    "no_refusal": (),
}
KINDS = tuple(REQUIRED_KEYS)  # the registry's order, as its 422 message lists them
VALUE_COMPARISON_KINDS = ("contains", "not_contains", "equals")
TARGETS = ("response_text", "input_data", "json_path")
COMPARE_TO = ("constant", "expected")
PERMITTED_KEYS = (
    "check_kind",
    "target",
    "target_path",
    "compare_to",
    "value",
    "pattern",
    "json_path",
    "expected",
    "expected_path",
    "min",
    "max",
    "case_sensitive",
    "multiline",
    "trim",
)
# `no_refusal.rb`'s patterns, all case-insensitive.
REFUSALS = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        r"\bi'?m sorry\b",
        r"\bi can'?t (?:help|assist|comply|do that|provide)",
        r"\bi (?:cannot|can'?t) (?:help|assist|fulfill|comply|provide)",
        r"\bi'?m (?:unable|not able) to\b",
        r"\bi (?:won'?t|will not) (?:be able|help|assist)\b",
        r"\bas an ai\b",
    )
)
_ARRAY_INDEX = re.compile(r"\d+")
_SCALARS = (str, int, float, bool, type(None))


class UnknownCheckKind(Exception):
    """A stored `check_config` without a kind the registry knows (`CHECKS.fetch` raising)."""


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckedRow:
    """What a check reads of one response: its text, the input row as stored, the answer key."""

    response_text: str
    input_data: str | None
    expected_output: str | None


class _Unresolved:
    pass


UNRESOLVED = _Unresolved()


def permitted(value: Any) -> dict[str, Any] | None:
    """`check_config` after strong parameters: an object keeps its permitted scalar keys."""
    if not isinstance(value, Mapping):
        return None
    return {
        key: value[key]
        for key in PERMITTED_KEYS
        if key in value and isinstance(value[key], _SCALARS)
    }


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> Any:
    """Ruby's `JSON.parse`: like Python's, but `NaN` and `Infinity` are errors."""
    return json.loads(text, parse_constant=_no_constant)


def _blank(value: Any) -> bool:
    """Ruby's `value.to_s.strip.empty?`."""
    return value is None or not ruby_to_s(value).strip()


def ruby_to_s(value: Any) -> str:
    """Ruby's `to_s` of a JSON scalar (nil is "", true is "true")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ruby_to_i(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    match = re.match(r"\s*([+-]?\d+)", ruby_to_s(value))
    return int(match.group(1)) if match else 0


def _flags(config: Mapping[str, Any]) -> int:
    flags = re.M
    if config.get("case_sensitive") is False:
        flags |= re.I
    if config.get("multiline") is True:
        flags |= re.S
    return flags


def validation_errors(config: Any) -> list[str]:
    """`Metric#validate_check_config`: the messages for the `check_config` attribute."""
    if not isinstance(config, Mapping):
        return ["must be a configuration object"]
    kind = config.get("check_kind")
    if kind not in KINDS:
        return [f"check_kind must be one of {', '.join(KINDS)}"]
    errors: list[str] = []
    target = config.get("target") if not _blank(config.get("target")) else "response_text"
    if target not in TARGETS:
        errors.append(f"target must be one of {', '.join(TARGETS)}")
    if target == "json_path" and _blank(config.get("target_path")):
        errors.append("target_path is required when target is json_path")
    if "compare_to" in config:
        if config["compare_to"] not in COMPARE_TO:
            errors.append("compare_to must be constant or expected")
        elif config["compare_to"] == "expected" and kind not in VALUE_COMPARISON_KINDS:
            errors.append("compare_to expected only applies to contains, not_contains, or equals")
    required = list(REQUIRED_KEYS[kind])
    if config.get("compare_to") == "expected" and kind in VALUE_COMPARISON_KINDS:
        required.remove("value")
    for key in required:
        if key == "expected":
            if "expected" not in config:
                errors.append("expected is required")
        elif _blank(config.get(key)):
            errors.append(f"{key} is required")
    if kind == "regex":
        try:
            re.compile(ruby_to_s(config.get("pattern")))
        except re.error:
            errors.append("pattern is not a valid regular expression")
    elif kind == "length_bounds":
        low, high = config.get("min"), config.get("max")
        if low is None and high is None:
            errors.append("length_bounds requires at least one of min or max")
        elif low is not None and high is not None and _ruby_to_i(low) > _ruby_to_i(high):
            errors.append("min must be less than or equal to max")
    return errors


def _walk(document: Any, path: str) -> Any:
    """`TargetResolver.walk`: a dotted path through objects and array indexes."""
    node = document
    for key in path.split("."):
        if isinstance(node, dict):
            if key not in node:
                return UNRESOLVED
            node = node[key]
        elif isinstance(node, list):
            if not _ARRAY_INDEX.fullmatch(key) or int(key) >= len(node):
                return UNRESOLVED
            node = node[int(key)]
        else:
            return UNRESOLVED
    return node


def _json_path(text: str, path: str) -> Any:
    try:
        document = _parse_json(text)
    except ValueError:
        return UNRESOLVED
    found = _walk(document, path.strip())
    return found if found is UNRESOLVED else ruby_to_s(found)


def _target(row: CheckedRow, config: Mapping[str, Any]) -> Any:
    if config.get("target") == "input_data":
        return ruby_to_s(row.input_data)
    if config.get("target") == "json_path":
        return _json_path(row.response_text, ruby_to_s(config.get("target_path")))
    return row.response_text


def _expected(row: CheckedRow, config: Mapping[str, Any]) -> Any:
    """`ExpectedResolver`: the row's answer key, or a path into it."""
    if row.expected_output is None or not row.expected_output.strip():
        return UNRESOLVED
    path = ruby_to_s(config.get("expected_path")).strip()
    return _json_path(row.expected_output, path) if path else row.expected_output


def _includes(haystack: str, needle: str, config: Mapping[str, Any]) -> bool:
    if config.get("case_sensitive") is True:
        return needle in haystack
    return needle.lower() in haystack.lower()


def _same_json_value(found: Any, expected: Any) -> bool:
    """Ruby `==` between parsed JSON and the configured value: true is not 1."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return type(found) is type(expected) and found == expected
    return bool(found == expected)


def _dig(document: Any, path: str) -> Any:
    """`JsonPathEquals#dig`: objects only."""
    node = document
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return UNRESOLVED
        node = node[key]
    return node


def _contains(target: str, config: Mapping[str, Any]) -> CheckResult:
    value = ruby_to_s(config.get("value"))
    present = _includes(target, value, config)
    return CheckResult(present, f"contains {value!r}" if present else f"does not contain {value!r}")


def _not_contains(target: str, config: Mapping[str, Any]) -> CheckResult:
    found = _contains(target, config)
    return CheckResult(not found.passed, found.detail)


def _equals(target: str, config: Mapping[str, Any]) -> CheckResult:
    actual, wanted = target, ruby_to_s(config.get("value"))
    if config.get("trim") is True:
        actual, wanted = actual.strip(), wanted.strip()
    if config.get("case_sensitive") is True:
        same = actual == wanted
    else:
        same = actual.casefold() == wanted.casefold()
    return CheckResult(same, f"equals {wanted!r}" if same else f"{actual!r} != {wanted!r}")


def _regex(target: str, config: Mapping[str, Any]) -> CheckResult:
    pattern = ruby_to_s(config.get("pattern"))
    try:
        matched = re.search(pattern, target, _flags(config)) is not None
    except re.error as exc:
        return CheckResult(False, f"invalid pattern: {exc}")
    return CheckResult(matched, f"matched /{pattern}/" if matched else f"no match for /{pattern}/")


def _valid_json(target: str, _config: Mapping[str, Any]) -> CheckResult:
    try:
        _parse_json(target)
    except ValueError:
        return CheckResult(False, "not valid JSON")
    return CheckResult(True, "valid JSON")


def _json_path_equals(target: str, config: Mapping[str, Any]) -> CheckResult:
    path, expected = ruby_to_s(config.get("json_path")), config.get("expected")
    try:
        found = _dig(_parse_json(target), path)
    except ValueError:
        return CheckResult(False, "not valid JSON")
    if found is UNRESOLVED:
        return CheckResult(False, f"path {path} not found")
    if _same_json_value(found, expected):
        return CheckResult(True, f"{path} == {expected!r}")
    return CheckResult(False, f"{path} was {found!r}, expected {expected!r}")


def _length_bounds(target: str, config: Mapping[str, Any]) -> CheckResult:
    length = len(target)
    low = None if config.get("min") is None else _ruby_to_i(config.get("min"))
    high = None if config.get("max") is None else _ruby_to_i(config.get("max"))
    if low is not None and length < low:
        return CheckResult(False, f"length {length} below min {low}")
    if high is not None and length > high:
        return CheckResult(False, f"length {length} above max {high}")
    return CheckResult(True, f"length {length} within bounds")


def _no_refusal(target: str, _config: Mapping[str, Any]) -> CheckResult:
    refused = any(pattern.search(target) for pattern in REFUSALS)
    return CheckResult(not refused, "refusal detected" if refused else "no refusal detected")


CHECKS: dict[str, Callable[[str, Mapping[str, Any]], CheckResult]] = {
    "contains": _contains,
    "not_contains": _not_contains,
    "equals": _equals,
    "regex": _regex,
    "valid_json": _valid_json,
    "json_path_equals": _json_path_equals,
    "length_bounds": _length_bounds,
    "no_refusal": _no_refusal,
}
"""`Checks::Registry::CHECKS`: one function per kind, as the engine has one class per kind."""


def run_check(config: Mapping[str, Any] | None, row: CheckedRow) -> CheckResult:
    """`CheckReviewJob#evaluate`; raises `UnknownCheckKind` where the engine's job fails."""
    config = config or {}
    target = _target(row, config)
    if target is UNRESOLVED:
        return CheckResult(False, "could not resolve target")
    kind = ruby_to_s(config.get("check_kind"))
    if kind not in CHECKS:
        raise UnknownCheckKind(f"key not found: {json.dumps(kind)}")  # Ruby KeyError
    if config.get("compare_to") == "expected" and kind in VALUE_COMPARISON_KINDS:
        expected = _expected(row, config)
        if expected is UNRESOLVED:
            return CheckResult(False, "no expected value for this row")
        config = {**config, "value": expected}
    return CHECKS[kind](str(target), config)
