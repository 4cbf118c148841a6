"""`command: gate` with `prompt-files`: the pull request's own prompt files are what gets gated.

For each file, in path order: its live prompt (`live_in_index`, over one read of the prompts index a
step); content equal to the live content is
`unchanged` (no prompt, no run, no cost); otherwise the content's scratch candidate
(`obtain_candidate`: never a PATCH, never a publish) and a run of it named by a hash of the plan
without the commit, so the same content and settings on any commit, job or pull request reuse it.
Every run is created and started first, then all are waited for together, reading their status with
one tagged listing per look; then each is compared with its baseline and decided, and a passed run
is tagged `ckaction-passed` (the record publish trusts). One file's error is that file's outcome:
the others keep their verdicts. The step's one report holds every file's own report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ckaction.api import CompletionKitClient
from ckaction.candidates import (
    PASSED_TAG,
    candidate_among,
    content_of_prompt,
    is_candidate,
    obtain_candidate,
    passed_runs,
)
from ckaction.errors import CkError, ConfigurationError
from ckaction.flaky import flagged_rows
from ckaction.flow import (
    GATE_TAG,
    Gate,
    RowConfirmer,
    RunSpec,
    StepTools,
    baselines_of,
    changed_judge,
    like_for_like_differences,
    wait_for_runs,
)
from ckaction.inputs import Settings
from ckaction.liveprompt import live_in_index
from ckaction.models import Metric, Prompt, Run
from ckaction.promptfile import PromptFile, settings_for
from ckaction.report import (
    ErrorInfo,
    Facts,
    FileOutcome,
    Report,
    RunRef,
    step_result,
    tolerances_of,
)
from ckaction.signoff import SignOffs
from ckaction.stuck import ProgressWatch
from ckaction.wording import counted

CONTENT_RUN_PREFIX = "ckaction gate cfg-"


INPUT_FIELDS = ("id", "input_data")
"""What a confirm reads of the baseline's responses: each row's input, to rebuild the flagged rows."""


def content_run_name(spec: RunSpec) -> str:
    """A candidate run's name: the plan's hash, no commit (the candidate prompt is the content's)."""
    return f"{CONTENT_RUN_PREFIX}{spec.config_hash()}"


def find_baseline(
    client: CompletionKitClient,
    live: Prompt,
    dataset_id: int | None,
    index: tuple[Prompt, ...],
) -> Run | None:
    """The newest valid baseline of the live prompt, on `dataset_id` when one is given: a completed,
    scored run of the live version that is not a gate run, or a `ckaction-passed` run of the
    candidate whose content is the live content (found in the step's candidate `index`). Checked
    here whatever a list filter returned."""

    def on_dataset(run: Run) -> bool:
        return dataset_id is None or run.dataset_id == dataset_id

    own = next(baselines_of(client, live.id, dataset_id), None)
    passed = None
    twin = candidate_among(index, live.name, content_of_prompt(live))
    if twin is not None:
        passed = next((run for run in passed_runs(client, twin) if on_dataset(run)), None)
    return max((run for run in (own, passed) if run), key=lambda run: run.id, default=None)


@dataclass(frozen=True)
class Started:
    """A file whose candidate run has been created (or reused) and started."""

    file: PromptFile
    gate: Gate
    candidate: Prompt
    baseline: Run | None  # None: a new prompt, scored on its own
    spec: RunSpec
    run: Run
    created: bool  # this job created the run; one it reused or attached to is watched for stuck


class FileGate:
    """The gate of a step's prompt files against an injected client, clock and sleep."""

    def __init__(
        self,
        settings: Settings,
        tools: StepTools,
        *,
        facts: Facts,
        signoffs: SignOffs,
        confirmer: RowConfirmer | None = None,
    ) -> None:
        self.settings = settings
        self.confirmer = confirmer
        self.tools = tools
        self.client = tools.client
        self.log = tools.log
        self.clock = tools.clock
        self.sleep = tools.sleep
        self.deadline = tools.deadline
        self.facts = facts
        self.signoffs = signoffs
        self.known_metrics: dict[int, Metric] = {}
        self.index: tuple[Prompt, ...] = ()
        self.candidates: tuple[Prompt, ...] = ()

    def run(self, files: tuple[PromptFile, ...]) -> Report:
        outcomes: dict[str, FileOutcome] = {}
        started: list[Started] = []
        # One read of the prompts index serves every file: its live prompt (the index is not a
        # production serve, a `GET /prompts/<name>` is) and the org's scratch candidates.
        self.index = tuple(self.client.list_prompts())
        self.candidates = tuple(prompt for prompt in self.index if is_candidate(prompt))
        for file in files:
            with self.log.group(f"{file.path}: planning"):
                step = self.start(file)
            if isinstance(step, Started):
                started.append(step)
            else:
                outcomes[file.path] = step
        by_run = {item.run.id: item for item in started}
        # Each file's run as it stands: a stuck one's replacement (`restart`) takes its place.
        current = {item.file.path: item for item in started}

        def finished(run: Run) -> None:
            item = by_run[run.id]
            if item.file.path in outcomes:  # handed again by a later wait
                return
            with self.log.group(f"{item.file.path}: comparing and deciding"):
                outcomes[item.file.path] = self.finish(item, run)

        waiting = started
        while waiting:
            last_seen, stuck = self.wait(waiting, finished)
            still: list[Started] = []
            for item, run in zip(waiting, last_seen, strict=True):
                if item.file.path in outcomes:
                    continue
                if run.id in stuck:
                    step = self.restart(item, run, stuck[run.id])
                elif self.deadline.passed:  # still running at the deadline
                    step = self.finish(item, run)
                else:  # still running: another file's run was stuck
                    step = replace(item, run=run)
                if isinstance(step, Started):
                    by_run[step.run.id] = current[step.file.path] = step
                    still.append(step)
                else:
                    outcomes[item.file.path] = step
            waiting = still
        ordered = tuple(outcomes[file.path] for file in files)
        if self.confirmer is not None:
            ordered = self.confirmed(self.confirmer, ordered, list(current.values()))
        return Report(
            result=step_result(ordered),
            tolerances=tolerances_of(self.settings),
            facts=replace(self.facts, files=ordered),
        )

    # -- before the runs -----------------------------------------------------------------------

    def start(self, file: PromptFile) -> Started | FileOutcome:
        """The file's run created (or reused) and started, or its outcome when it needs none (or
        when an error stopped it)."""
        settings = settings_for(self.settings, file)
        facts = Facts(
            command="gate", workflow_run_url=self.facts.workflow_run_url, prompt_label=file.prompt
        )
        gate: Gate | None = None
        try:
            live = live_in_index(self.index, file.prompt)
            if live is None and not file.create:
                raise ConfigurationError(
                    f"{file.path}: prompt `{file.prompt}` was not found on CompletionKit.",
                    hint="Set `prompt:` to the live prompt's exact name, slug or family_key; for "
                    "a prompt that does not exist yet, add `create: true` to the file.",
                )
            if live is not None:
                facts = replace(facts, baseline_prompt_id=live.id)
                if content_of_prompt(live) == file.content:
                    return self.unchanged(file, live, settings, facts)
            # The baseline first: a file without one makes no candidate.
            baseline = None if live is None else self.baseline_of(file, live, settings)
            if baseline is not None:  # before a scratch prompt is made or a run paid for
                self.client.probe_engine(baseline.id)
            live_name = live.name if live is not None else file.prompt
            candidate = candidate_among(self.candidates, live_name, file.content)
            created = False
            if candidate is None:
                candidate, created = obtain_candidate(
                    self.client, live_name, file.content, file.description
                )
            self.log.info(
                f"{'Created' if created else 'Reusing'} candidate prompt {candidate.id} "
                f"({candidate.name})"
            )
            gate = self.gate_for(file, settings, candidate, facts)
            if baseline is not None:
                gate.learn(baseline=RunRef(baseline.id, gate.run_url(baseline.id), baseline.name))
            spec, metrics = gate.plan(baseline)
            gate.learn(dataset_id=spec.dataset_id, judge_model=spec.judge_model)
            if baseline is not None:
                differences = like_for_like_differences(spec, baseline, metrics)
                gate.learn(
                    not_like_for_like=tuple(differences),
                    rebaseline_judge=changed_judge(spec, baseline),
                )
            claim = gate.obtain_run(spec, content_run_name(spec), new_prompt=created)
            gate.learn(candidate=RunRef(claim.run.id, gate.run_url(claim.run.id), claim.run.name))
            run = gate.begin(claim)
        except CkError as exc:
            return self.failed(file, gate.facts if gate else facts, exc)
        return Started(file, gate, candidate, baseline, spec, run, claim.created)

    def restart(self, item: Started, stuck_run: Run, why: str) -> Started | FileOutcome:
        """A fresh run for a file whose reused or attached run is stuck (`Gate.replacement`)."""
        gate = item.gate
        try:
            claim = gate.replacement(stuck_run, why, item.spec)
            gate.learn(candidate=RunRef(claim.run.id, gate.run_url(claim.run.id), claim.run.name))
            run = gate.begin(claim)
        except CkError as exc:
            return self.failed(item.file, gate.facts, exc)
        return replace(item, run=run, created=claim.created)

    def baseline_of(self, file: PromptFile, live: Prompt, settings: Settings) -> Run:
        baseline = find_baseline(self.client, live, settings.dataset_id, self.candidates)
        if baseline is None:
            on = f" on dataset {settings.dataset_id}" if settings.dataset_id else ""
            raise ConfigurationError(
                f"{file.path}: the live prompt `{live.name}` (id {live.id}) has no completed, "
                f"scored run{on} to compare with.",
                hint="Capture its first baseline with `ckaction rebaseline` "
                "(command: rebaseline) on the gate's dataset.",
            )
        return baseline

    def gate_for(
        self, file: PromptFile, settings: Settings, candidate: Prompt, facts: Facts
    ) -> Gate:
        """The single-run gate of one file's candidate, with the file's settings and sign-offs."""
        return Gate(
            settings.model_copy(update={"prompt_id": candidate.id}),
            self.tools,
            facts=replace(facts, prompt_id=candidate.id),
            signoffs=replace(self.signoffs, prompt_id=candidate.id, prompt_file=file.path),
            known_metrics=self.known_metrics,
        )

    def unchanged(
        self, file: PromptFile, live: Prompt, settings: Settings, facts: Facts
    ) -> FileOutcome:
        version = f" v{live.version_number}" if live.version_number else ""
        done = (
            f"{file.path} equals the live prompt `{live.name}`{version}: nothing to measure, "
            "no run, no cost.",
        )
        notes: tuple[str, ...] = ()
        if file.eval is not None:
            notes = (
                f"{file.path} has `eval:` settings but its content is live: an `eval:` change "
                "measures nothing new. To capture a baseline under new settings, run "
                "`ckaction rebaseline` (command: rebaseline).",
            )
        report = Report(
            result="passed",
            tolerances=tolerances_of(settings),
            facts=replace(facts, done=done, notes=notes),
        )
        self.log.info(done[0])
        return FileOutcome(file.path, file.prompt, "unchanged", report)

    def failed(self, file: PromptFile, facts: Facts, exc: CkError) -> FileOutcome:
        self.log.warning(exc.message, title=f"{file.path}: {exc.title}")
        report = Report(
            result="error",
            tolerances=tolerances_of(settings_for(self.settings, file)),
            facts=facts,
            error=ErrorInfo(exc.title, exc.message, exc.hint),
        )
        return FileOutcome(file.path, file.prompt, "error", report, facts.prompt_id)

    # -- the wait: one listing per look ----------------------------------------------------------

    def wait(
        self, started: list[Started], finished: Callable[[Run], None]
    ) -> tuple[list[Run], dict[int, str]]:
        """Every started run as last seen, and why each stuck one is stuck (`stuck.ProgressWatch`,
        only for runs this job did not create). The wait ends when every run has finished, the
        step's deadline has passed or a run is stuck; each run is handed to `finished` as soon as
        it is seen finished."""
        latest = [item.run for item in started]
        stale_seconds = self.settings.stale_minutes * 60.0
        watches = {
            item.run.id: ProgressWatch.start(item.run, self.clock(), stale_seconds)
            for item in started
            if not item.created
        }
        stuck: dict[int, str] = {}

        def look() -> list[Run]:
            nonlocal latest
            latest = self.read_runs(latest)
            for run in latest:
                if run.id in watches:
                    watches[run.id] = watches[run.id].seen(run, self.clock())
            return latest

        def any_stuck(runs: list[Run]) -> bool:
            for run in runs:
                why = watches[run.id].stuck(run, self.clock()) if run.id in watches else None
                if why is not None:
                    stuck[run.id] = why
            return bool(stuck)

        with self.log.group(f"Waiting for {counted(len(latest), 'run')}"):
            runs = wait_for_runs(
                latest,
                look,
                clock=self.clock,
                sleep=self.sleep,
                deadline=self.deadline.at,
                say=self.log.info,
                on_finished=finished,
                stop=any_stuck,
            )
        return runs, stuck

    def read_runs(self, last_seen: list[Run]) -> list[Run]:
        """One look at the runs still running: the gate's tag, newest first, paged only until all
        were seen; one the listing did not show is read on its own. A finished run is not read
        again (a reused one may be old, far down the listing)."""
        wanted = {run.id for run in last_seen if not run.is_terminal}
        seen: dict[int, Run] = {}
        for run in self.client.list_runs(**{"tag[]": GATE_TAG}):
            if run.id in wanted:
                seen[run.id] = run
                if len(seen) == len(wanted):
                    break
        return [
            run if run.is_terminal else seen.get(run.id) or self.client.get_run(run.id)
            for run in last_seen
        ]

    # -- after the runs ----------------------------------------------------------------------------

    def finish(self, item: Started, run: Run) -> FileOutcome:
        gate, file = item.gate, item.file
        try:
            if not run.is_terminal:
                raise gate.timed_out([run])
            if item.baseline is None:
                report = self.score_new(item, run)
            else:
                report = gate.conclude(run, item.baseline, item.spec)
            if report.passed:
                self.mark_passed(run)
        except CkError as exc:
            return self.failed(file, gate.facts, exc)
        result = "new" if item.baseline is None and report.passed else report.result
        return FileOutcome(file.path, file.prompt, result, report, item.candidate.id)

    def mark_passed(self, run: Run) -> None:
        if PASSED_TAG not in run.tag_names:
            self.client.set_run_tags(run.id, [*run.tag_names, PASSED_TAG])
            self.log.info(f"Tagged run {run.id} `{PASSED_TAG}`: publish trusts it.")

    def confirmed(
        self, confirmer: RowConfirmer, outcomes: tuple[FileOutcome, ...], started: list[Started]
    ) -> tuple[FileOutcome, ...]:
        """Confirm before failing (`confirm-runs`) over the whole step: each regressed file's
        flagged rows re-tested, once every file is compared, so that `confirm-max-rows` caps the
        flagged rows of all files together. A file whose rows all prove flaky passes (and its run
        is tagged `ckaction-passed`)."""
        items = {item.file.path: item for item in started if item.baseline is not None}
        regressed = [
            (outcome, items[outcome.path], outcome.report.evaluation)
            for outcome in outcomes
            if outcome.result == "regressed" and outcome.path in items
        ]
        in_step = sum(len(flagged_rows(evaluation)) for _, _, evaluation in regressed if evaluation)
        changed: dict[str, FileOutcome] = {}
        for outcome, item, evaluation in regressed:
            if evaluation is None or item.baseline is None:
                continue
            with self.log.group(f"{outcome.path}: confirming the flagged rows"):
                try:
                    baseline_rows = self.client.responses(item.baseline.id, INPUT_FIELDS)
                    inputs = {r.id: r.input_data for r in baseline_rows}
                    report = item.gate.confirm(
                        confirmer, item.baseline, item.run, inputs, flagged_in_step=in_step
                    )
                    if report.passed:
                        self.mark_passed(item.run)
                except CkError as exc:
                    self.log.warning(
                        f"{outcome.path}: not confirmed ({exc.message}); its verdict stands.",
                        title="Confirm failed",
                    )
                    continue
            changed[outcome.path] = replace(outcome, result=report.result, report=report)
        return tuple(changed.get(outcome.path, outcome) for outcome in outcomes)

    def score_new(self, item: Started, run: Run) -> Report:
        """A new prompt has nothing to compare with: its absolute scores, passed unless a check
        failed. Its failed rows get the one retry a compared run's get (`Gate.salvage`)."""
        gate = item.gate
        run = gate.salvage(run)
        gate.scored(run)
        rate = run.check_pass_rate
        checks = "no checks" if rate is None else f"{rate:.0%} of checks passed"
        said = [
            f"New prompt `{item.file.prompt}`: average score {run.avg_score or '—'}, {checks}. "
            f"`publish` will create the family `{item.file.prompt}` from this file.",
        ]
        failed_checks = rate is not None and rate < 1
        if failed_checks:
            said.append("A check failed on the new prompt, so it does not pass.")
        facts = gate.learn(done=tuple(said))
        return Report(
            result="regressed" if failed_checks else "passed",
            tolerances=gate.tolerances,
            facts=facts,
        )
