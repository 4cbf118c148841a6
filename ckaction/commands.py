"""The commands: gate, publish, rebaseline, calibrate, drift and cleanup, each a function of settings and
collaborators that returns the `Report`. A command that stops raises `Stopped` with the facts it had
learned, its cause chained."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckaction.api import CompletionKitClient
from ckaction.candidates import BASELINE_TAG
from ckaction.confirm import Confirmer
from ckaction.context import RunContext
from ckaction.errors import ConfigurationError, InputError, RunFailed, UncertainOutcome
from ckaction.flow import Gate, StepTools, is_gate_run
from ckaction.inputs import RebaselineMethod, Settings
from ckaction.liveprompt import find_live
from ckaction.models import Prompt, Run
from ckaction.promptfile import resolve_prompt_files, settings_for
from ckaction.report import Facts, Report, RunRef
from ckaction.rerun import Reruns
from ckaction.runtags import derived_tags
from ckaction.signoff import LabelSignOff, SignOff, SignOffs, label_signoff, load_signoffs

if TYPE_CHECKING:
    from github import Github

DEFAULT_SIGNOFFS_FILE: str = Settings.model_fields["signoffs_file"].default


class Stopped(Exception):
    """A command stopped on an exception (its `__cause__`); `facts` is what it had learned."""

    def __init__(self, facts: Facts) -> None:
        super().__init__(f"{facts.command} stopped")
        self.facts = facts


def run_command(
    settings: Settings,
    facts: Facts,
    *,
    tools: StepTools,
    context: RunContext,
    github: Github | None = None,
) -> Report:
    """Run settings.command with `tools` (the CompletionKit client, the log, the clock, the sleep
    and the step's deadline), starting from what the caller knows (`facts`); `github` reads the
    pushed branch's head for publish and the merged pull request's label (None: no github-token)."""
    client, runner = tools.client, tools.log
    if settings.command == "drift":
        from ckaction.promptsync import drift

        return drift(settings, client, context.workspace, facts)
    if settings.command == "cleanup":
        from ckaction.cleanup import cleanup

        return cleanup(settings, client, facts, log=runner, now=dt.datetime.now(dt.UTC))
    if settings.command == "publish" and settings.prompt_files is not None:
        from ckaction.release import Release

        release = Release(settings, client, context=context, log=runner, facts=facts, github=github)
        try:
            return release.run()
        except Exception as exc:
            raise Stopped(release.facts) from exc
    # Prompts already read (each `GET /prompts/:id` counts as a serve): the gate reads no other.
    known_prompts: dict[str, Prompt] = {}
    if settings.command == "rebaseline" and settings.prompt_files is not None:
        settings, live = for_prompt_file(settings, client, context.workspace)
        known_prompts[str(live.id)] = live
    # Files are inputs too: a malformed sign-off file fails before any network call (to
    # CompletionKit: the label's pull request may be looked up on GitHub).
    signoffs = None
    if settings.command == "gate":
        signoffs, facts = gather_signoffs(settings, context, facts, github)
    if settings.command == "gate" and settings.prompt_files:
        assert signoffs is not None
        return gate_files(settings, facts, signoffs, tools=tools, context=context)
    gate = Gate(
        settings,
        tools,
        commit=settings.commit or context.sha,
        facts=facts,
        signoffs=signoffs,
        confirmer=confirmer_for(settings, tools),
        known_prompts=known_prompts,
    )
    try:
        if settings.command == "publish":
            return publish(gate)
        if settings.command == "rebaseline":
            return rebaseline(gate)
        if settings.command == "calibrate":
            from ckaction.calibrate import calibrate

            return calibrate(gate)
        return gate.run()
    except Exception as exc:
        raise Stopped(gate.facts) from exc


def confirmer_for(settings: Settings, tools: StepTools) -> Confirmer | None:
    """The confirm of a gate's flagged rows when `confirm-runs` asks for one (None: off)."""
    if settings.command != "gate" or settings.confirm_runs == 0:
        return None
    return Confirmer(tools, runs=settings.confirm_runs, max_rows=settings.confirm_max_rows)


def gate_files(
    settings: Settings,
    facts: Facts,
    signoffs: SignOffs,
    *,
    tools: StepTools,
    context: RunContext,
) -> Report:
    """`command: gate` with `prompt-files`: every file read (and checked) before any network call,
    then gated together."""
    from ckaction.filegate import FileGate

    assert settings.prompt_files is not None
    files = resolve_prompt_files(settings.prompt_files, context.workspace)
    gate = FileGate(
        settings,
        tools,
        facts=facts,
        signoffs=signoffs,
        confirmer=confirmer_for(settings, tools),
    )
    try:
        return gate.run(files)
    except Exception as exc:
        raise Stopped(gate.facts) from exc


def gather_signoffs(
    settings: Settings, context: RunContext, facts: Facts, github: Github | None = None
) -> tuple[SignOffs, Facts]:
    """The label and file sign-offs that apply to this gate; expired and rejected ones go to the
    facts so a reviewer sees them, and so does a `signoffs-file` set to a file that is not there.
    `github` looks up the label's pull request (`label_from_github`)."""
    valid: list[SignOff] = []
    if settings.signoffs_file:
        target = context.in_workspace(settings.signoffs_file)
        if target is None:
            raise InputError({"signoffs-file": "leads out of the workspace (through a symlink)"})
        if not target.exists() and settings.signoffs_file != DEFAULT_SIGNOFFS_FILE:
            facts = replace(
                facts,
                warnings=(
                    *facts.warnings,
                    f"No sign-off file at {settings.signoffs_file}: no entry of it applies. Check "
                    "the path, and that the job checks out the repository before this step.",
                ),
            )
        valid, expired, rejected = load_signoffs(
            target, settings.signoffs_file, today=dt.datetime.now(dt.UTC).date()
        )
        facts = replace(
            facts,
            signoffs_expired=tuple(f"{e.describe()}: expired, covers nothing" for e in expired),
            signoffs_rejected=tuple(f"{r.where}: {r.problem}; covers nothing" for r in rejected),
        )
    label, facts = label_from_github(settings, context, facts, github)
    signoffs = SignOffs(entries=tuple(valid), label=label, prompt_id=settings.prompt_id)
    return signoffs, facts


def label_from_github(
    settings: Settings, context: RunContext, facts: Facts, github: Github | None
) -> tuple[LabelSignOff | None, Facts]:
    """The label sign-off. On a push to the default branch the event carries no label, so the
    pull request merged as the pushed commit is looked up and its label honoured as if the event
    carried it (a note says which pull request). Who added the label, when the event does not
    say, comes from the pull request's issue events. A GitHub failure is a warning: the label
    then does not apply (a gate never passes on a sign-off it could not see)."""
    from ckaction.github import GitHubError, label_added_by, merged_pull

    name = settings.signoff_label
    label = label_signoff(name, context.pr_labels, context.event)
    if not name or github is None:
        return label, facts
    number = context.pr_number
    try:
        if label is None and number is None and context.pushed_to_default_branch and context.sha:
            assert context.default_branch is not None
            merged = merged_pull(github, context.repository, context.sha, context.default_branch)
            if merged is not None:
                number = merged.number
                label = label_signoff(name, merged.labels, {}, merged_pull=merged.number)
                if label is not None:
                    facts = replace(
                        facts,
                        notes=(
                            *facts.notes,
                            f"Sign-off label `{name}` taken from pull request #{merged.number}, "
                            f"merged as this commit ({context.sha[:7]}).",
                        ),
                    )
        if label is not None and label.who is None and number is not None:
            label = replace(label, who=label_added_by(github, context.repository, number, name))
    except GitHubError as exc:
        warning = (
            f"Could not look up the sign-off label `{name}` on GitHub ({exc.status or 'no answer'}"
            f": {exc.message}), so it does not apply here. Give the job `pull-requests: read`, or "
            "re-run it."
        )
        return (label if label is not None and label.merged_pull is None else None), replace(
            facts, warnings=(*facts.warnings, warning)
        )
    return label, facts


def publish(gate: Gate) -> Report:
    """Make prompt-id the current version of its family; a no-op when it already is."""
    settings, client = gate.settings, gate.client
    assert settings.prompt_id is not None
    gate.learn(prompt_id=settings.prompt_id)
    prompt = gate.prompt(settings.prompt_id)
    if prompt.current:
        done = (
            f"Prompt {prompt.id} (version {prompt.version_number}) is already the current "
            "version: nothing to publish."
        )
    else:
        prompt = client.publish_prompt(prompt.id)
        if not prompt.current:
            raise ConfigurationError(
                f"CompletionKit answered the publish of prompt {prompt.id} but it is not current.",
                hint="Check the prompt in CompletionKit.",
            )
        done = (
            f"Published prompt {prompt.id} (version {prompt.version_number}): it is now the "
            "current version of its family."
        )
    gate.log.info(done)
    facts = gate.learn(
        done=(done,),
        outputs={"prompt-id": str(prompt.id), "version-number": str(prompt.version_number or "")},
    )
    return Report(result="passed", tolerances=gate.tolerances, facts=facts)


def rebaseline_method(settings: Settings, old: Run) -> RebaselineMethod:
    """How rebaseline captures a fresh baseline from run `old`: `rebaseline-method` when it is
    given and can honour the inputs, else `new-run` when judge-model or temperature differs from
    the old run's (a rerun or a regrade keeps them) and `rerun` when nothing does. `regrade`
    rewrites the run in place while others may read it, so only a run ckaction made as a
    baseline is regraded, never a gate run."""
    changed = []
    if settings.judge_model and settings.judge_model != old.judge_model:
        changed.append(f"judge-model `{settings.judge_model}` (run: `{old.judge_model or 'none'}`)")
    if settings.temperature is not None and settings.temperature != old.temperature:
        changed.append(f"temperature {settings.temperature:g} (run: {old.temperature})")
    asked = settings.rebaseline_method
    if asked is None:
        return "new-run" if changed else "rerun"
    if asked != "new-run" and changed:
        raise ConfigurationError(
            f"rebaseline-method: {asked} keeps run {old.id}'s settings, but the inputs ask for "
            + " and ".join(changed)
            + ".",
            hint="Use rebaseline-method: new-run (or leave it empty) to change the settings.",
        )
    if asked == "regrade" and (BASELINE_TAG not in old.tag_names or is_gate_run(old)):
        raise ConfigurationError(
            f"rebaseline-method: regrade re-judges run {old.id} in place, and ckaction regrades "
            f"only runs it made as baselines (tagged `{BASELINE_TAG}`, never a gate run).",
            hint="Use rebaseline-method: rerun for this run, or pass the id of a baseline that "
            "rebaseline captured as baseline-run-id.",
        )
    return asked


def rebaseline(gate: Gate) -> Report:
    """A fresh baseline under today's conditions, by the method `rebaseline_method` picks: a
    rerun of the baseline, a regrade of it in place, or a new run of the live prompt. A live
    prompt with no runs at all gets its first baseline. Whatever the method, the new baseline's
    tags follow one rule (`runtags.derived_tags`): the old run's own tags kept, every flow tag of
    this tool replaced by `ckaction-baseline`."""
    settings, client = gate.settings, gate.client
    if settings.baseline_run_id is None:
        assert settings.prompt_id is not None
        live = gate.live_version(gate.prompt(settings.prompt_id))
        if not any(run.prompt_id == live.id for run in client.list_runs(prompt_id=live.id)):
            return first_baseline(gate, live)
    old = gate.chosen_baseline()
    gate.learn(baseline=RunRef(old.id, gate.run_url(old.id), old.name))
    method = rebaseline_method(settings, old)
    if method == "new-run":
        if old.prompt_id is None:
            raise ConfigurationError(f"Run {old.id} has no prompt to re-run with new settings.")
        live = gate.live_version(gate.prompt(old.prompt_id))
        body: dict[str, Any] = {
            "prompt_id": live.id,
            "dataset_id": settings.dataset_id or old.dataset_id,
            "metric_ids": list(settings.metric_ids or old.metric_ids),
            "judge_model": settings.judge_model or old.judge_model,
            "tag_names": derived_tags(old.tag_names, BASELINE_TAG),
        }
        temperature = settings.temperature if settings.temperature is not None else old.temperature
        if temperature is not None:
            body["temperature"] = temperature
        for key in ("judge_temperature", "max_tokens", "expected_column"):
            value = getattr(old, key)
            if value is not None:
                body[key] = value
        run = client.create_run(body)
        gate.log.info(f"Created run {run.id} of live prompt {live.id} with the new settings")
        run = gate.start(run)
        how = f"a new run of the live prompt (id {live.id}) with the new settings"
    elif method == "regrade":
        run = regrade(gate, old)
        tags = derived_tags(old.tag_names, BASELINE_TAG)
        if set(run.tag_names) != set(tags):
            run = client.set_run_tags(run.id, tags)
        gate.log.info(f"Run {old.id} is being re-judged in place")
        how = (
            f"run {old.id} re-judged in place under today's metric versions (its outputs kept, "
            "nothing generated again)"
        )
    else:
        reruns = Reruns.of(gate, BASELINE_TAG)
        run = reruns.rerun(old)
        gate.log.info(f"Rerun of run {old.id} started as run {run.id}")
        how = f"a rerun of run {old.id} (same settings, today's metric versions)"
        report = captured(gate, run, how, method, baseline_run_id=old.id)
        reruns.retag_late_copies(taken=[run.id])
        return report
    return captured(gate, run, how, method, baseline_run_id=old.id)


def regrade(gate: Gate, old: Run) -> Run:
    """`POST /runs/:id/regrade` on `old`; after a lost answer, the run is read first and the
    regrade sent once more only if the run is not `running` (a regrade that landed holds it
    `running` until the reviews are done)."""
    try:
        return gate.client.regrade(old.id)
    except UncertainOutcome as exc:
        gate.log.warning(
            f"Regrading run {old.id} may or may not have worked ({exc.message}); reading the run "
            "before sending it again.",
            title="Uncertain regrade",
        )
        current = gate.client.get_run(old.id)
        if current.status == "running":
            return current
        return gate.client.regrade(old.id)


def for_prompt_file(
    settings: Settings, client: CompletionKitClient, workspace: Path
) -> tuple[Settings, Prompt]:
    """Rebaseline's settings for its one prompt file (the live prompt it names, and its `eval:`
    where the step sets no input of its own), and that live prompt."""
    assert settings.prompt_files is not None
    files = resolve_prompt_files(settings.prompt_files, workspace)
    if len(files) != 1:
        raise InputError(
            {"prompt-files": f"matches {len(files)} files; rebaseline takes one prompt file"},
            hint="Name the one prompt file whose live prompt gets a fresh baseline.",
        )
    (file,) = files
    live = find_live(client, file.prompt)
    if live is None:
        raise ConfigurationError(
            f"{file.path}: no live prompt is named `{file.prompt}`, so it has nothing to baseline.",
            hint="Publish the prompt first, or fix `prompt:` in the file.",
        )
    return settings_for(settings, file).model_copy(update={"prompt_id": live.id}), live


def first_baseline(gate: Gate, live: Prompt) -> Report:
    """The first baseline of a live prompt that has no runs: a run of it on the given dataset,
    metrics and judge, tagged `ckaction-baseline` (never `ckaction-gate`, so gates take it)."""
    settings, client = gate.settings, gate.client
    missing = [
        name
        for name, value in (
            ("dataset-id", settings.dataset_id),
            ("metric-ids", settings.metric_ids),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            f"The live prompt (id {live.id}, version {live.version_number}) has no runs yet, so "
            f"its first baseline needs {' and '.join(missing)}.",
            hint="Set dataset-id, metric-ids and judge-model (for LLM-judge metrics) for the "
            "first baseline.",
        )
    assert settings.dataset_id is not None and settings.metric_ids is not None
    judged = [m.name for m in map(client.get_metric, settings.metric_ids) if m.is_llm_judge]
    if judged and not settings.judge_model:
        raise ConfigurationError(
            f"No judge model: LLM-judge metrics ({', '.join(judged)}) would not be graded.",
            hint="Set judge-model for the first baseline.",
        )
    body: dict[str, Any] = {
        "name": f"ckaction baseline of {live.name} v{live.version_number}",
        "prompt_id": live.id,
        "dataset_id": settings.dataset_id,
        "metric_ids": list(settings.metric_ids),
        "tag_names": [BASELINE_TAG],
    }
    if settings.judge_model:
        body["judge_model"] = settings.judge_model
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    gate.learn(baseline_prompt_id=live.id)
    run = client.create_run(body)
    gate.log.info(f"Created run {run.id}: the first baseline of live prompt {live.id}")
    run = gate.start(run)
    return captured(gate, run, f"the first run of the live prompt (id {live.id})", "new-run")


def captured(
    gate: Gate,
    run: Run,
    how: str,
    method: RebaselineMethod,
    baseline_run_id: int | None = None,
) -> Report:
    """Wait for the new baseline run and say what it is and by which method it was captured; an
    error when it failed or has no scores."""
    gate.learn(candidate=RunRef(run.id, gate.run_url(run.id), run.name))
    run = gate.wait(run)
    if run.status == "failed":
        raise RunFailed(
            f"The new baseline run {run.id} failed: {run.failure_summary or 'no reason given'}",
            hint=f"Open {gate.run_url(run.id)}.",
        )
    if not run.has_scores:
        raise ConfigurationError(
            f"The new baseline run {run.id} completed without scores.",
            hint="Set judge-model so LLM-judge metrics are graded.",
        )
    facts = gate.learn(
        avg_score=run.avg_score,
        done=(
            f"Captured a fresh baseline ({method}): run {run.id}, {how}. Gates compare with it "
            "while it is the live prompt's newest green run, or always with baseline-run-id "
            f"{run.id}.",
        ),
        outputs={
            "run-id": str(run.id),
            "baseline-run-id": "" if baseline_run_id is None else str(baseline_run_id),
            "rebaseline-method": method,
        },
    )
    return Report(result="passed", tolerances=gate.tolerances, facts=facts)
