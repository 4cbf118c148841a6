"""The commands: gate, publish, rebaseline, calibrate and drift, each a function of settings and
collaborators that returns the `Report`. A command that stops raises `Stopped` with the facts it had
learned, its cause chained."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from ckaction.api import CompletionKitClient
from ckaction.clock import Clock, Deadline, Sleep
from ckaction.context import RunContext
from ckaction.errors import ConfigurationError, InputError, RunFailed
from ckaction.flow import GATE_TAG, Gate, Log
from ckaction.inputs import Settings
from ckaction.report import Facts, Report, RunRef
from ckaction.signoff import SignOff, SignOffs, label_signoff, load_signoffs


class Stopped(Exception):
    """A command stopped on an exception (its `__cause__`); `facts` is what it had learned."""

    def __init__(self, facts: Facts) -> None:
        super().__init__(f"{facts.command} stopped")
        self.facts = facts


def run_command(
    settings: Settings,
    facts: Facts,
    *,
    client: CompletionKitClient,
    runner: Log,
    context: RunContext,
    clock: Clock,
    sleep: Sleep,
    deadline: Deadline,
) -> Report:
    """Run settings.command against `client`, starting from what the caller knows (`facts`)."""
    if settings.command == "drift":
        from ckaction.promptsync import drift

        return drift(settings, client, context.workspace, facts)
    # Files are inputs too: a malformed sign-off file fails before any network call.
    signoffs = None
    if settings.command == "gate":
        signoffs, facts = gather_signoffs(settings, context, facts)
    gate = Gate(
        settings,
        client,
        log=runner,
        clock=clock,
        sleep=sleep,
        deadline=deadline,
        commit=settings.commit or context.sha,
        facts=facts,
        signoffs=signoffs,
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


def gather_signoffs(
    settings: Settings, context: RunContext, facts: Facts
) -> tuple[SignOffs, Facts]:
    """The label and file sign-offs that apply to this gate; expired and rejected ones go to the
    facts so a reviewer sees them."""
    valid: list[SignOff] = []
    if settings.signoffs_file:
        target = context.in_workspace(settings.signoffs_file)
        if target is None:
            raise InputError({"signoffs-file": "leads out of the workspace (through a symlink)"})
        valid, expired, rejected = load_signoffs(
            target, settings.signoffs_file, today=dt.datetime.now(dt.UTC).date()
        )
        facts = replace(
            facts,
            signoffs_expired=tuple(f"{e.describe()}: expired, covers nothing" for e in expired),
            signoffs_rejected=tuple(f"{r.where}: {r.problem}; covers nothing" for r in rejected),
        )
    signoffs = SignOffs(
        entries=tuple(valid),
        label=label_signoff(settings.signoff_label, context.pr_labels, context.event),
        prompt_id=settings.prompt_id,
    )
    return signoffs, facts


def publish(gate: Gate) -> Report:
    """Make prompt-id the current version of its family; a no-op when it already is."""
    settings, client = gate.settings, gate.client
    assert settings.prompt_id is not None
    gate.learn(prompt_id=settings.prompt_id)
    prompt = client.get_prompt(settings.prompt_id)
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


def rebaseline(gate: Gate) -> Report:
    """A fresh baseline under today's conditions: rerun the baseline, or a new run of the live
    prompt when judge-model or temperature changes (rerun would copy the old settings)."""
    settings, client = gate.settings, gate.client
    old = gate.chosen_baseline()
    gate.learn(baseline=RunRef(old.id, gate.run_url(old.id), old.name))
    if settings.judge_model or settings.temperature is not None:
        if old.prompt_id is None:
            raise ConfigurationError(f"Run {old.id} has no prompt to re-run with new settings.")
        live = client.get_prompt(old.prompt_id)
        if live.family_key:
            live = client.get_prompt(live.family_key)
        body: dict[str, Any] = {
            "prompt_id": live.id,
            "dataset_id": settings.dataset_id or old.dataset_id,
            "metric_ids": list(settings.metric_ids or old.metric_ids),
            "judge_model": settings.judge_model or old.judge_model,
            "tag_names": [t for t in old.tag_names if t != GATE_TAG] + ["ckaction-baseline"],
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
    else:
        run = client.rerun(old.id)
        gate.log.info(f"Rerun of run {old.id} started as run {run.id}")
        how = f"a rerun of run {old.id} (same settings, today's metric versions)"
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
            f"Captured a fresh baseline: run {run.id}, {how}. Gates now compare with it when "
            f"baseline-run-id is {run.id} (or when it is the newest green run of the live prompt).",
        ),
        outputs={"run-id": str(run.id), "baseline-run-id": str(old.id)},
    )
    return Report(result="passed", tolerances=gate.tolerances, facts=facts)
