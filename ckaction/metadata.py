"""The one description of ckaction's commands, inputs and outputs.

`composite/generate.py` writes `action.yml`'s and `composite/action.yml`'s inputs and outputs and the
README's tables from it; `cli._parser` builds each subcommand's flags, help and defaults from it.
`tests/unit/test_metadata.py` keeps the generated files, `Settings`' defaults and
`inputs.missing_required` equal to what is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from ckaction.inputs import CONNECTION_FIELDS, Command, input_id

EVERY_COMMAND: tuple[Command, ...] = get_args(Command)
GATE: tuple[Command, ...] = ("gate",)
PROMPT_ID_READERS: tuple[Command, ...] = ("gate", "publish", "rebaseline", "calibrate")
PROMPT_FILES_READERS: tuple[Command, ...] = ("gate", "publish", "rebaseline", "drift")
BASELINE_READERS: tuple[Command, ...] = ("gate", "rebaseline", "calibrate")
RUN_SETTINGS_READERS: tuple[Command, ...] = ("gate", "rebaseline")
WORKFLOW_EXPRESSION = "${{"

COMMAND_HELP: dict[Command, str] = {
    "gate": "score a candidate prompt and compare it per row with a baseline run",
    "publish": "release prompt files whose content passed a gate (or make prompt-id current)",
    "rebaseline": "capture a fresh baseline run of the live prompt",
    "calibrate": "rerun the baseline unchanged to measure the judge's noise floor",
    "drift": "check that each prompt file still equals its live prompt (exit 1 when one differs)",
    "cleanup": "delete scratch candidates whose newest run is older than keep-days, and older "
    "confirm datasets with their runs",
}
PULL_HELP = "write prompt files from the live prompts (CLI only)"
PULL_INPUTS = tuple(input_id(name) for name in CONNECTION_FIELDS)


@dataclass(frozen=True)
class Input:
    """One `with:` key of the action and one CLI flag (`--<id>`) of the commands that read it.

    `description` is the action's, for every command that reads the input; `per_command` says it
    for one command where that reads better (its `--help`). Descriptions mark code with backticks
    for the README; `plain` drops them elsewhere."""

    id: str
    description: str
    commands: tuple[Command, ...]
    default: str | None = None
    metavar: str = "TEXT"  # what the value looks like in --help
    per_command: Mapping[Command, str] = field(default_factory=dict)

    def description_for(self, command: Command) -> str:
        """What this input means to `command` (its `--help`)."""
        return self.per_command.get(command, self.description)

    @property
    def field(self) -> str:
        """The `Settings` field this input fills: `prompt-id` → `prompt_id`."""
        return self.id.replace("-", "_")

    @property
    def cli_default(self) -> str | None:
        """The default a CLI user gets: none where the action's default is a workflow expression."""
        if self.default is None or self.default.startswith(WORKFLOW_EXPRESSION):
            return None
        return self.default


@dataclass(frozen=True)
class Requirement:
    """These commands stop with an input error unless at least one of `any_of` is set."""

    commands: tuple[Command, ...]
    any_of: tuple[str, ...]

    def unless(self, input_id: str) -> str:
        """For `org`: " unless `api-url` is set"; empty when `input_id` has no alternative."""
        others = [f"`{name}`" for name in self.any_of if name != input_id]
        return f" unless {' or '.join(others)} is set" if others else ""


@dataclass(frozen=True)
class Output:
    """One step output, and the commands that give it a value (the others leave it empty)."""

    id: str
    description: str
    commands: tuple[Command, ...]


INPUTS: tuple[Input, ...] = (
    Input(
        "api-token",
        "CompletionKit API token, from a secret (on the CLI, better in `CKACTION_API_TOKEN` than "
        "as a flag). Masked first thing and never printed.",
        EVERY_COMMAND,
        metavar="TOKEN",
    ),
    Input(
        "org",
        "CompletionKit org slug; the API root is `https://completionkit.com/orgs/<org>/api/v1`.",
        EVERY_COMMAND,
        metavar="SLUG",
    ),
    Input(
        "api-url",
        "Full API root, ending in `/api/v1` (such as https://ck.example.com/orgs/acme/api/v1), "
        "overriding `org` (self-hosted engine, tests).",
        EVERY_COMMAND,
        metavar="URL",
    ),
    Input(
        "web-url",
        "Root of CompletionKit's web pages for run links. Empty: the API root without `/api/v1`.",
        BASELINE_READERS,
        metavar="URL",
    ),
    Input(
        "command",
        "What to do: `gate`, `publish`, `rebaseline`, `calibrate`, `drift` or `cleanup` (on the "
        "CLI, the subcommand).",
        EVERY_COMMAND,
        default="gate",
    ),
    Input(
        "prompt-id",
        "Prompt version id: the candidate to score (gate), the version to make current "
        "(publish), or the prompt whose live version's last green run is the baseline "
        "(rebaseline, calibrate).",
        PROMPT_ID_READERS,
        metavar="ID",
        per_command={
            "gate": "Prompt version id of the candidate to score.",
            "publish": "Prompt version id to make the current version of its prompt family.",
            "rebaseline": "Prompt whose live version gets a fresh baseline (its last green run "
            "replaced, as `rebaseline-method` says).",
            "calibrate": "Prompt whose live version's last green run is rerun to measure the "
            "judge's noise.",
        },
    ),
    Input(
        "prompt-files",
        "Prompt files (YAML, or Markdown with front matter), newline- or comma-separated paths or "
        "globs relative to the workspace, such as `prompts/*.yml`. Not with `prompt-id`, "
        "`baseline-run-id` or `baseline-prompt-id`. Rebaseline takes one file, whose `eval:` "
        "gives the dataset, metrics and judge.",
        PROMPT_FILES_READERS,
        metavar="GLOBS",
        per_command={
            "gate": "Prompt files to gate (YAML, or Markdown with front matter), newline- or "
            "comma-separated paths or globs relative to the workspace, such as `prompts/*.yml`. "
            "Not with `prompt-id`, `baseline-run-id` or `baseline-prompt-id`.",
            "publish": "Prompt files to publish (YAML, or Markdown with front matter), newline- or "
            "comma-separated paths or globs relative to the workspace, such as `prompts/*.yml`. "
            "Not with `prompt-id`.",
            "rebaseline": "One prompt file (YAML, or Markdown with front matter), relative to the "
            "workspace, whose live prompt gets the new baseline; its `eval:` gives the dataset, "
            "metrics and judge. Not with `prompt-id`, `baseline-run-id` or `baseline-prompt-id`.",
            "drift": "Prompt files to compare with their live prompts (YAML, or Markdown with "
            "front matter), newline- or comma-separated paths or globs relative to the "
            "workspace, such as `prompts/*.yml`.",
        },
    ),
    Input(
        "baseline-run-id",
        "Run to compare with (gate) or to rerun (rebaseline, calibrate). "
        "Empty: the last green run of the live prompt.",
        BASELINE_READERS,
        metavar="ID",
        per_command={
            "gate": "Run to compare with. Empty: the last green run of the live prompt.",
            "rebaseline": "Run to replace with a fresh baseline (rerun, regraded or run anew, as "
            "`rebaseline-method` says). Empty: the last green run of the live prompt.",
            "calibrate": "Run to rerun unchanged to measure the judge's noise. Empty: the last "
            "green run of the live prompt.",
        },
    ),
    Input(
        "baseline-prompt-id",
        "The live prompt version whose last green run is the baseline. "
        "Empty: the current version of the candidate's prompt family.",
        BASELINE_READERS,
        metavar="ID",
        per_command={
            "rebaseline": "The live prompt version whose last green run is replaced. Empty: the "
            "current version of `prompt-id`'s prompt family.",
            "calibrate": "The live prompt version whose last green run is rerun. Empty: the "
            "current version of `prompt-id`'s prompt family.",
        },
    ),
    Input(
        "dataset-id",
        "Dataset to score on. Empty: the baseline run's dataset. "
        "Rebaseline reads it for a new run (`rebaseline-method: new-run`, the default when "
        "`judge-model` or `temperature` changes), and for the first "
        "baseline of a live prompt without runs (then it is required).",
        RUN_SETTINGS_READERS,
        metavar="ID",
        per_command={
            "gate": "Dataset to score on. Empty: the baseline run's dataset.",
            "rebaseline": "Dataset of a new run (`rebaseline-method: new-run`, the default when "
            "`judge-model` or `temperature` changes), required for the first baseline of a live "
            "prompt without runs. Empty: the baseline run's dataset.",
        },
    ),
    Input(
        "metric-ids",
        "Metric ids as `1,2,3`, `1 2 3` or `[1, 2, 3]`. Empty: the baseline run's metrics. "
        "Rebaseline reads them for a new run (`rebaseline-method: new-run`, the default when "
        "`judge-model` or `temperature` changes), and for the first "
        "baseline of a live prompt without runs (then they are required).",
        RUN_SETTINGS_READERS,
        metavar="IDS",
        per_command={
            "gate": "Metric ids as `1,2,3`, `1 2 3` or `[1, 2, 3]`. Empty: the baseline run's "
            "metrics.",
            "rebaseline": "Metric ids of a new run (`rebaseline-method: new-run`, the default when "
            "`judge-model` or `temperature` changes) as `1,2,3`, `1 2 3` or `[1, 2, 3]`, required "
            "for the first baseline of a live prompt without runs. Empty: the baseline run's "
            "metrics.",
        },
    ),
    Input(
        "judge-model",
        "Judge model for LLM-judge metrics. Empty: the baseline run's judge model.",
        RUN_SETTINGS_READERS,
        metavar="MODEL",
    ),
    Input(
        "temperature",
        "Generation temperature, 0 to 2. Empty: the baseline run's temperature.",
        RUN_SETTINGS_READERS,
        metavar="NUMBER",
    ),
    Input(
        "row-tolerance",
        "A row regresses when any LLM-judge metric's delta is strictly below this.",
        GATE,
        default="-1.0",
        metavar="NUMBER",
    ),
    Input(
        "avg-tolerance",
        "An LLM-judge metric regresses when its mean delta over paired rows is strictly below "
        "this. Check metrics regress only by going pass→fail.",
        GATE,
        default="-0.2",
        metavar="NUMBER",
    ),
    Input(
        "timeout-minutes",
        "Bound on the whole step, decimals accepted.",
        EVERY_COMMAND,
        default="30",
        metavar="MINUTES",
    ),
    Input(
        "fail-on-regression",
        "`false`: report the regression, set outputs and exit 0.",
        GATE,
        default="true",
        metavar="true|false",
    ),
    Input(
        "reuse-runs",
        "Reuse (or attach to) a run of the same commit and configuration instead of paying for "
        "a new one.",
        GATE,
        default="true",
        metavar="true|false",
    ),
    Input(
        "stale-minutes",
        "A reused or attached run that has had no rows, or whose progress has not moved, for this "
        "many minutes is not waited on: a fresh run is started and the report says why. A "
        "retry of a run's failed rows that has not moved for as long is not waited on either: "
        "those rows are compared as they were.",
        GATE,
        default="10",
        metavar="MINUTES",
    ),
    Input(
        "comment",
        "Post or update one sticky comment on the pull request.",
        GATE,
        default="true",
        metavar="true|false",
    ),
    Input(
        "comment-id",
        "Keeps separate sticky comments for several gates in one pull request.",
        GATE,
        metavar="TEXT",
    ),
    Input(
        "github-token",
        "Token for the PR comment (needs `pull-requests: write`) and, for publish on a push, to "
        "read the branch's head commit (`contents: read`). The action passes the job's token.",
        ("gate", "publish"),
        default="${{ github.token }}",
        metavar="TOKEN",
        per_command={
            "gate": "Token for the PR comment (needs `pull-requests: write`). The action passes "
            "the job's token.",
            "publish": "Token to read the branch's head commit on a push (needs `contents: read`), "
            "so a push that is no longer its branch's head publishes nothing. The action passes "
            "the job's token.",
        },
    ),
    Input(
        "report-path",
        "Where to write the JSON report, relative to the workspace.",
        EVERY_COMMAND,
        default="ckaction-report.json",
        metavar="PATH",
    ),
    Input(
        "commit",
        "Commit SHA that names the run. Empty: the PR head SHA or `GITHUB_SHA`; outside GitHub, the "
        "CI's own (`CI_COMMIT_SHA`, `BUILDKITE_COMMIT`, `CIRCLE_SHA1`, `GIT_COMMIT`, "
        "`BUILD_SOURCEVERSION`), so a retried job reuses its run.",
        GATE,
        metavar="SHA",
    ),
    Input(
        "pr-number",
        "Pull request to comment on. Empty: the PR of the triggering event "
        "(set it in the `workflow_run` recipe for forks).",
        GATE,
        metavar="NUMBER",
    ),
    Input(
        "signoff-label",
        "A PR label that signs off every regression of this gate (on a push to the default "
        "branch: the merged pull request's label); the report records who added it.",
        GATE,
        default="prompt-regression-approved",
        metavar="LABEL",
    ),
    Input(
        "signoffs-file",
        "YAML file of reviewed sign-offs (input, metric, min-delta, reason, expires), relative "
        "to the workspace.",
        GATE,
        default=".completionkit/signoffs.yml",
        metavar="PATH",
    ),
    Input(
        "avg-gate",
        "`band`: a mean delta below `avg-tolerance` fails. `significant`: it fails only when the "
        "whole 95% interval also lies below zero.",
        GATE,
        default="band",
        metavar="band|significant",
    ),
    Input(
        "on-stale-baseline",
        "`warn` or `fail` when the baseline was scored under other conditions (judge model, metric "
        "versions, metric set, dataset).",
        GATE,
        default="warn",
        metavar="warn|fail",
    ),
    Input(
        "max-unscored",
        "Largest share (0 to 1) of paired rows that may lack a score, per metric the candidate "
        "was asked to score, before the gate reports that metric as not measured (an error, "
        "never a verdict).",
        GATE,
        default="0.1",
        metavar="SHARE",
    ),
    Input(
        "confirm-runs",
        "Confirm before failing: when the gate would fail on row regressions only, run the "
        "flagged rows again this many times with the baseline's prompt and with the candidate's "
        "(0 to 10; 0, the default, is off). Rows whose mean delta still crosses row-tolerance fail "
        "(confirmed); rows that do not are listed as flaky and do not fail the gate. It costs "
        "2 x N runs of the flagged rows.",
        GATE,
        default="0",
        metavar="N",
    ),
    Input(
        "confirm-max-rows",
        "With confirm-runs, more flagged rows than this (across all prompt files of the step) is "
        "a real regression: the gate fails without confirming.",
        GATE,
        default="20",
        metavar="ROWS",
    ),
    Input(
        "rebaseline-method",
        "How `rebaseline` captures the baseline: `rerun` (the same settings, today's metric "
        "versions, generated again), `regrade` (re-judge the baseline's own outputs in place "
        "under today's metric versions, no generation cost; only a run ckaction made as a "
        "baseline) or `new-run` (a run of the live prompt). Default: `rerun`, or `new-run` when "
        "judge-model or temperature differs from the baseline's.",
        ("rebaseline",),
        metavar="rerun|regrade|new-run",
    ),
    Input(
        "calibration-runs",
        "How many identical reruns of the baseline measure the judge's noise (1 to 10).",
        ("calibrate",),
        default="2",
        metavar="N",
    ),
    Input(
        "require-passed-gate",
        "Publish refuses content that has no `ckaction-passed` gate run (`false` turns that off).",
        ("publish",),
        default="true",
        metavar="true|false",
    ),
    Input(
        "keep-days",
        "`cleanup` deletes scratch candidates whose newest run is older than this many days, and "
        "confirm datasets (`confirm-runs`) created longer ago, with their runs.",
        ("cleanup",),
        default="30",
        metavar="DAYS",
    ),
    Input(
        "dry-run",
        "`cleanup` only lists what it would delete unless this is `false`.",
        ("cleanup",),
        default="true",
        metavar="true|false",
    ),
)

REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(EVERY_COMMAND, ("api-token",)),
    Requirement(EVERY_COMMAND, ("org", "api-url")),
    Requirement(("gate", "publish"), ("prompt-id", "prompt-files")),
    Requirement(("drift",), ("prompt-files",)),
    Requirement(("rebaseline",), ("prompt-id", "baseline-run-id", "prompt-files")),
    Requirement(("calibrate",), ("prompt-id", "baseline-run-id")),
)

OUTPUTS: tuple[Output, ...] = (
    Output(
        "run-id",
        "Id of the candidate run (rebaseline: the new baseline run).",
        RUN_SETTINGS_READERS,
    ),
    Output("baseline-run-id", "Id of the baseline run compared with or rerun.", BASELINE_READERS),
    Output("result", "`passed`, `regressed` or `error`.", EVERY_COMMAND),
    Output(
        "results",
        "With `prompt-files`: a JSON object keyed by file path (`result`, `run-id`, "
        "`baseline-run-id`, `candidate-prompt-id`, `regressions`).",
        ("gate", "publish"),
    ),
    Output("passed", "`true` or `false`.", EVERY_COMMAND),
    Output("regressions", "Number of rows with at least one regression.", GATE),
    Output("avg-score", "The candidate run's average score.", RUN_SETTINGS_READERS),
    Output("prompt-id", "The prompt version id that was gated or published.", ("gate", "publish")),
    Output(
        "report",
        "Path of the JSON report, relative to the workspace (for `actions/upload-artifact`).",
        EVERY_COMMAND,
    ),
    Output("version-number", "Version number of the published prompt.", ("publish",)),
    Output("comment-url", "URL of the sticky PR comment, when one was posted.", GATE),
    Output(
        "signed-off",
        "Number of regressed rows that a label or a sign-off file entry accepted.",
        GATE,
    ),
    Output(
        "rebaseline-method",
        "How the baseline was captured: `rerun`, `regrade` or `new-run`.",
        ("rebaseline",),
    ),
    Output(
        "recommended-row-tolerance",
        "A row tolerance an unchanged prompt passes, with a margin.",
        ("calibrate",),
    ),
    Output(
        "recommended-avg-tolerance",
        "An average tolerance an unchanged prompt passes, with a margin.",
        ("calibrate",),
    ),
)


def plain(text: str) -> str:
    """A description without its Markdown backticks, for action.yml and `--help`."""
    return text.replace("`", "")


def inputs_of(command: Command) -> tuple[Input, ...]:
    """The inputs `command` reads, in the order the action declares them."""
    return tuple(spec for spec in INPUTS if command in spec.commands)


def always_required(input_id: str) -> bool:
    """Required by every command with no alternative: the action marks it `required: true`."""
    return Requirement(EVERY_COMMAND, (input_id,)) in REQUIREMENTS


def requirement_for(input_id: str, command: Command) -> str | None:
    """How `command` requires this input: "required", "required unless api-url is set", or None."""
    for requirement in REQUIREMENTS:
        if command in requirement.commands and input_id in requirement.any_of:
            return "required" + requirement.unless(input_id)
    return None


def pull_requirement(input_id: str) -> str | None:
    """How `ckaction pull` requires a connection input: as every command does."""
    for requirement in REQUIREMENTS:
        if requirement.commands == EVERY_COMMAND and input_id in requirement.any_of:
            return "required" + requirement.unless(input_id)
    return None


def requirement_sentences(input_id: str) -> str:
    """What requires this input, for action.yml and the README; empty when nothing does."""
    sentences = []
    for requirement in REQUIREMENTS:
        if input_id in requirement.any_of:
            every = requirement.commands == EVERY_COMMAND
            scope = "" if every else f" for {_join(requirement.commands)}"
            sentences.append(f"Required{scope}{requirement.unless(input_id)}.")
    return " ".join(sentences)


def _join(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
