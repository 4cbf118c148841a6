"""The composition root: the only place that reads the environment, builds real collaborators
(HTTP transport and client, GitHub client, clock, sleep, deadline, runner protocol) and maps outcomes
to exit codes.

Two doors lead here: the GitHub Action (`entrypoint.py` → `action_main`, inputs from `INPUT_*`) and
the CLI (`ckaction gate --prompt-id …`, flags named like the inputs, or `CKACTION_*` / `INPUT_*`
environment variables). Both validate through `Settings.parse` and run the same commands.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import httpx

from ckaction import __version__
from ckaction.budget import RequestBudget
from ckaction.clock import Clock, Deadline, Sleep
from ckaction.commands import Stopped, run_command
from ckaction.context import RunContext, context_from_env
from ckaction.delivery import Delivered, deliver
from ckaction.errors import EXIT_ERROR, EXIT_OK, EXIT_REGRESSED, CkError, InputError
from ckaction.flow import StepTools
from ckaction.gha import Runner
from ckaction.inputs import Command, Door, Settings, raw_inputs_from_env
from ckaction.metadata import (
    COMMAND_HELP,
    EVERY_COMMAND,
    INPUTS,
    PULL_HELP,
    PULL_INPUTS,
    Input,
    inputs_of,
    plain,
    pull_requirement,
    requirement_for,
)
from ckaction.redact import Redactor
from ckaction.report import ErrorInfo, Facts, Report, tolerances_of

if TYPE_CHECKING:
    from github import Github

    from ckaction.api import CompletionKitClient

ISSUES_URL = "https://github.com/ckaction/ckaction/issues"
FORK_HINT = (
    "Pull requests from forks get no repository secrets, so the CompletionKit token is empty. "
    "Run the gate for fork PRs with the two-workflow `workflow_run` recipe in the README "
    '(section "Pull requests from forks"), or have a maintainer push the branch to this repository.'
)


def _exit_code(report: Report, settings: Settings | None) -> int:
    if report.result == "passed":
        return EXIT_OK
    if report.result == "regressed":
        if settings is not None and not settings.fail_on_regression:
            return EXIT_OK
        return EXIT_REGRESSED
    return EXIT_ERROR


class App:
    """One invocation: settings in, report out through the runner, an exit code back.

    The composition root: the only place that builds real collaborators. The CompletionKit HTTP
    transport, the clock and the sleep are chosen here (tests pass the emulator's in-process
    transport and one fake clock); the API client, the step's deadline and the GitHub client are
    built here once the settings are known, and passed down."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        stream: TextIO | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        summary_file: str | None = None,
        transport: httpx.BaseTransport | None = None,
        door: Door = "action",
    ) -> None:
        self.redact = Redactor()
        self.runner = Runner(environ, redact=self.redact, stream=stream)
        self.context: RunContext = context_from_env(environ)
        self.clock = clock
        self.sleep = sleep
        self.summary_file = summary_file
        self.transport = transport
        # The action (INPUT_*) or the CLI (flags, CKACTION_*): how a missing input is explained.
        self.door = door
        self._github: Github | None = None

    def run(self, raw: Mapping[str, str]) -> int:
        # Mask first: before validation, before anything can print.
        for key in ("api_token", "github_token"):
            if raw.get(key):
                self.runner.mask(raw[key])
        settings: Settings | None = None
        facts = Facts(
            command=raw.get("command") or "gate", workflow_run_url=self.context.workflow_run_url
        )
        try:
            if self.context.event_error is not None:
                raise self.context.event_error
            if not raw.get("api_token") and self.context.is_fork:
                raise InputError(
                    {"api-token": "is empty: this pull request comes from a fork"}, hint=FORK_HINT
                )
            settings = Settings.parse(raw, self.door)
            facts = replace(facts, command=settings.command)
            report = self.execute(settings, facts)
        except Exception as exc:
            if isinstance(exc, Stopped) and isinstance(exc.__cause__, Exception):
                facts, exc = exc.facts, exc.__cause__
            report = self._error_report(facts, exc, settings)
        try:
            self.deliver(report, settings)
        except Exception as exc:  # delivery never changes the verdict or its exit code
            self.runner.debug(self.redact("".join(traceback.format_exception(exc))))
            self.runner.warning(
                self.redact(f"Could not deliver the whole report: {type(exc).__name__}: {exc}"),
                title="Report not fully delivered",
            )
        return _exit_code(report, settings)

    @contextmanager
    def client(self, settings: Settings, deadline: Deadline) -> Iterator[CompletionKitClient]:
        """The CompletionKit client for these settings, over this invocation's transport."""
        from ckaction.api import CompletionKitClient, build_http_client

        self.redact.add(settings.token)
        with build_http_client(settings.api_root, settings.token, transport=self.transport) as http:
            # One request budget for the whole step, whatever it gates (see `budget`).
            budget = RequestBudget(self.clock, self.sleep, root_path=http.base_url.path)
            http.event_hooks = {"request": [budget.spend]}
            yield CompletionKitClient(http, redact=self.redact, sleep=self.sleep, deadline=deadline)

    def github(self, settings: Settings | None) -> Github | None:
        """The step's one PyGithub client (built on first use), when the step talks to GitHub
        and has a token to do it with."""
        if self._github is None:
            self._github = github_for(settings, self.context)
        return self._github

    def execute(self, settings: Settings, facts: Facts) -> Report:
        deadline = Deadline.after(settings.timeout_seconds, self.clock)
        with self.client(settings, deadline) as client:
            tools = StepTools(client, self.runner, self.clock, self.sleep, deadline)
            return run_command(
                settings, facts, tools=tools, context=self.context, github=self.github(settings)
            )

    def pull(
        self, raw: Mapping[str, str], asked: Sequence[str], directory: Path, force: bool
    ) -> int:
        """`ckaction pull`: prompt files from the live prompts; says what it wrote. CLI only, so
        no report: an error is said on the terminal, with its hint, and exits 2."""
        if raw.get("api_token"):
            self.runner.mask(raw["api_token"])
        from ckaction.promptsync import pull

        try:
            settings = Settings.for_connection(raw)
            deadline = Deadline.after(settings.timeout_seconds, self.clock)
            with self.client(settings, deadline) as client:
                said = pull(client, asked, directory, force=force)
        except Exception as exc:
            self._explain(exc)
            return EXIT_ERROR
        for line in said:
            self.runner.info(line)
        return EXIT_OK

    def _error_report(self, facts: Facts, exc: Exception, settings: Settings | None) -> Report:
        """The report of a command that stopped: what it had learned, and why it stopped."""
        error = self._explain(exc)
        return Report(
            result="error",
            tolerances=tolerances_of(settings),
            facts=facts,
            error=ErrorInfo(error.title, self.redact(error.message), self.redact(error.hint)),
        )

    def _explain(self, exc: Exception) -> CkError:
        """Say on the runner what went wrong and what to do. An unexpected exception is a bug: no
        traceback for users, one in the debug log."""
        if not isinstance(exc, CkError):
            self.runner.debug(self.redact("".join(traceback.format_exception(exc))))
            exc = CkError(
                f"Unexpected {type(exc).__name__}: {exc}",
                hint=f"This is a bug in ckaction {__version__}; please report it at {ISSUES_URL} "
                "with the log (re-run with debug logging for a traceback).",
            )
        if isinstance(exc, InputError):
            for name, problem in exc.problems.items():
                self.runner.error(f"`{name}`: {problem}", title=f"Invalid input {name}")
        else:
            self.runner.error(exc.message, title=exc.title)
        if exc.hint:
            self.runner.info(f"What to do: {exc.hint}")
        return exc

    def deliver(self, report: Report, settings: Settings | None) -> Delivered:
        """Summary, PR comment, outputs and, last, the JSON report, whatever the result."""
        return deliver(
            report,
            settings,
            runner=self.runner,
            context=self.context,
            summary_file=self.summary_file,
            github=self.github(settings),
        )


def wants_github(settings: Settings | None, context: RunContext) -> bool:
    """Whether this step talks to GitHub: a gate that may post its sticky comment or look up its
    sign-off label (on a push to the default branch, the merged pull request's; on a pull request
    that carries it, who added it), or a publish on a push (the branch's head commit). PyGithub
    costs ~0.3 s to import, so it is built only then."""
    if settings is None:
        return False
    if settings.command == "publish":
        return context.event_name == "push" and bool(context.branch)
    if settings.command != "gate":
        return False
    comments = settings.comment and (settings.pr_number or context.pr_number) is not None
    on_pull = context.pr_number is not None and settings.signoff_label in context.pr_labels
    signoff = bool(settings.signoff_label) and (context.pushed_to_default_branch or on_pull)
    return bool(comments or signoff)


def github_for(settings: Settings | None, context: RunContext) -> Github | None:
    """A PyGithub client for this step when it talks to GitHub (`wants_github`) and has a token."""
    if settings is None or not wants_github(settings, context) or settings.github_token is None:
        return None
    token = settings.github_token.get_secret_value().strip()
    if not token:
        return None
    from ckaction.github import connect

    return connect(token, context.api_url)


def action_main(environ: Mapping[str, str] | None = None) -> int:
    """The GitHub Action's entry: inputs from INPUT_* as the runner passes them."""
    env = dict(os.environ if environ is None else environ)
    return App(env).run(raw_inputs_from_env(env))


SUMMARY_FILE_VARIABLE = "CKACTION_SUMMARY_FILE"
"""--summary-file's twin: not an action input (on GitHub the summary goes to the job summary)."""
ENV_FALLBACK = (
    f"Every flag can also be set as CKACTION_<NAME> (e.g. CKACTION_API_TOKEN, "
    f"{SUMMARY_FILE_VARIABLE}), and every one but --summary-file as INPUT_<NAME> too; a flag wins "
    "over CKACTION_*, which wins over INPUT_*. Paths are relative to the current directory (the "
    "workspace)."
)
PULL_ENV_FALLBACK = (
    "--api-token, --org, --api-url and --timeout-minutes can also be set as CKACTION_<NAME> or "
    "INPUT_<NAME> (e.g. CKACTION_API_TOKEN); a flag wins over CKACTION_*, which wins over INPUT_*."
)
DEMO_HELP = "run a gate against the embedded emulator (no account needed)"
EXIT_CODES = "Exit codes: 0 passed, 1 regressed, 2 error."


def _flag_help(spec: Input, command: Command) -> str:
    """The input's description for `command`, "(required …)" where it needs it, and its default."""
    return _help_text(
        spec.description_for(command), requirement_for(spec.id, command), spec.cli_default
    )


def _pull_flag_help(spec: Input) -> str:
    """A connection flag of `pull`, required as every command requires it."""
    return _help_text(spec.description, pull_requirement(spec.id), spec.cli_default)


def _help_text(description: str, requirement: str | None, default: str | None) -> str:
    parts = [plain(description)]
    if requirement is not None:
        parts.append(f"({plain(requirement)})")
    if default is not None:
        parts.append(f"(default: {default})")
    return " ".join(parts).replace("%", "%%")  # argparse %-formats help strings


def _parser() -> argparse.ArgumentParser:
    """One subcommand per command, with only the flags that command reads, from ckaction.metadata.

    Flags default to None so CKACTION_* and INPUT_* variables fill what the command line leaves out;
    the help shows the default that applies then."""
    parser = argparse.ArgumentParser(
        prog="ckaction",
        description="Gate LLM prompt changes on CompletionKit evaluations.",
        epilog=f"{ENV_FALLBACK} {EXIT_CODES}",
    )
    parser.add_argument("--version", action="version", version=f"ckaction {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in EVERY_COMMAND:
        command = sub.add_parser(
            name,
            help=COMMAND_HELP[name],
            description=COMMAND_HELP[name].capitalize() + ".",
            epilog=f"{ENV_FALLBACK} {EXIT_CODES}",
        )
        for spec in inputs_of(name):
            if spec.id == "command":  # the subcommand itself
                continue
            command.add_argument(
                f"--{spec.id}",
                dest=spec.field,
                default=None,
                metavar=spec.metavar,
                help=_flag_help(spec, name),
            )
        command.add_argument(
            "--summary-file",
            default=None,
            metavar="PATH",
            help="write the Markdown summary here (default: stdout)",
        )
    pull = sub.add_parser(
        "pull",
        help=PULL_HELP,
        description=f"{PULL_HELP[0].upper()}{PULL_HELP[1:]}: one YAML file per prompt, named by "
        "its slug.",
        epilog=f"{PULL_ENV_FALLBACK} Exit codes: 0 written, 2 error.",
    )
    pull.add_argument("prompts", nargs="+", metavar="PROMPT", help="name, slug or family_key")
    pull.add_argument("--dir", default="prompts", help="where to write (default: prompts)")
    pull.add_argument("--force", action="store_true", help="overwrite files that differ")
    for spec in INPUTS:
        if spec.id in PULL_INPUTS:
            pull.add_argument(
                f"--{spec.id}",
                dest=spec.field,
                default=None,
                metavar=spec.metavar,
                help=_pull_flag_help(spec),
            )
    demo = sub.add_parser(
        "demo",
        help=DEMO_HELP,
        description=f"{DEMO_HELP[0].upper()}{DEMO_HELP[1:]}: it serves CompletionKit's API on "
        "127.0.0.1, gates a candidate prompt that regresses one row, and prints the report a pull "
        "request would get. Exits 0 when the gate caught the regression.",
    )
    demo.add_argument(
        "--summary-file",
        default="ckaction-demo-summary.md",
        metavar="PATH",
        help="also write the report here (default: ckaction-demo-summary.md)",
    )
    demo.add_argument(
        "--run-seconds",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long the demo run takes (default: 2.0)",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return EXIT_ERROR
    if args.command == "demo":
        from ckaction.demo import run_demo

        def run_gate(environ: Mapping[str, str], raw: Mapping[str, str]) -> int:
            return App(environ, summary_file=args.summary_file, door="cli").run(raw)

        return run_demo(run_gate, summary_file=args.summary_file, run_seconds=args.run_seconds)
    raw = raw_inputs_from_env(env, "INPUT_")
    raw.update(raw_inputs_from_env(env, "CKACTION_"))
    raw.update({k: v.strip() for k, v in vars(args).items() if k in Settings.model_fields and v})
    if args.command == "pull":
        return App(env, door="cli").pull(raw, args.prompts, Path(args.dir), args.force)
    raw["command"] = args.command
    summary_file = args.summary_file or env.get(SUMMARY_FILE_VARIABLE, "").strip() or None
    return App(env, summary_file=summary_file, door="cli").run(raw)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
