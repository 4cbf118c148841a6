"""The gate's five steps: resolve the baseline, create (or reuse) the candidate run, start it, wait for
it, compare and decide. Collaborators (API client, clock, sleep, log) are passed in; nothing here
reads the environment or writes files. What the gate learns accumulates in `Gate.facts`, one
immutable value after another, so an error part-way still names what it got to."""

from __future__ import annotations

import gc
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ckaction.api import CompletionKitClient
from ckaction.candidates import PASSED_TAG
from ckaction.clock import Clock, Deadline, Sleep
from ckaction.decide import evaluate
from ckaction.errors import (
    ConfigurationError,
    GateTimeout,
    NothingMeasured,
    RunFailed,
    StaleBaseline,
    UncertainOutcome,
    Unprocessable,
)
from ckaction.inputs import Settings
from ckaction.models import Metric, Prompt, ResponseFacts, Run
from ckaction.polling import Poll
from ckaction.report import Facts, Report, RunRef, rebaseline_command, tolerances_of
from ckaction.signoff import SignOffs
from ckaction.wording import counted

GATE_TAG = "ckaction-gate"
MAX_WRITE_ATTEMPTS = 3
LOOKUP_ATTEMPTS = 3
LOOKUP_PAUSE_SECONDS = 2.0


class Log(Protocol):
    def info(self, text: str) -> None: ...
    def warning(self, message: str, *, title: str = "") -> bool: ...
    def group(self, title: str) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class RunSpec:
    """What the candidate run is asked to do; its hash names the run so re-runs can find it."""

    prompt_id: int
    dataset_id: int
    metric_ids: tuple[int, ...]
    judge_model: str | None
    temperature: float | None
    judge_temperature: float | None
    max_tokens: int | None
    expected_column: str | None

    def config_hash(self) -> str:
        data = json.dumps(self.__dict__, sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()[:10]

    def body(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "prompt_id": self.prompt_id,
            "dataset_id": self.dataset_id,
            "metric_ids": list(self.metric_ids),
            "tag_names": [GATE_TAG],
        }
        optional = {
            "judge_model": self.judge_model,
            "temperature": self.temperature,
            "judge_temperature": self.judge_temperature,
            "max_tokens": self.max_tokens,
            "expected_column": self.expected_column,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body


def run_mark(spec: RunSpec, commit: str | None) -> str:
    """The name every gate run carries: the commit and a hash of the run's configuration."""
    source = commit[:12] if commit else f"local-{secrets.token_hex(4)}"
    return f"ckaction gate {source} cfg-{spec.config_hash()}"


def is_gate_run(run: Run) -> bool:
    return GATE_TAG in run.tag_names or (run.name or "").startswith("ckaction gate ")


OUR_RUN_TAGS = frozenset({GATE_TAG, PASSED_TAG})
"""The tags a gate puts on its runs; a run with any other was touched by someone else's flow."""


def reuse_differences(run: Run, spec: RunSpec) -> list[str]:
    """What makes an existing run not the one the plan asks for (empty: it may be reused or
    attached to). The one check for runs found by commit mark and by content alike: a name is
    only a name, so the settings are the plan's, and the run carries no tag but a gate's (a
    teammate's `ckaction-baseline` or any unknown tag means another flow owns it). A plan without
    a temperature accepts the engine's default (0.7 on older installs)."""
    wanted: dict[str, tuple[object, object]] = {
        "prompt": (run.prompt_id, spec.prompt_id),
        "dataset": (run.dataset_id, spec.dataset_id),
        "metrics": (sorted(run.metric_ids), sorted(spec.metric_ids)),
        "judge model": (run.judge_model, spec.judge_model),
    }
    if spec.temperature is not None:
        wanted["temperature"] = (run.temperature, spec.temperature)
    differences = [
        f"{what}: run {got}, plan {want}" for what, (got, want) in wanted.items() if got != want
    ]
    foreign = sorted(set(run.tag_names) - OUR_RUN_TAGS)
    if foreign:
        differences.append(f"tagged {', '.join(foreign)} by another flow")
    return differences


def changed_judge(spec: RunSpec, baseline: Run) -> str | None:
    """The candidate's judge model when it is not the baseline's: a fresh baseline needs it."""
    return (
        spec.judge_model if spec.judge_model and spec.judge_model != baseline.judge_model else None
    )


def like_for_like_differences(
    spec: RunSpec, baseline: Run, metrics_by_id: dict[int, Metric]
) -> list[str]:
    """What makes the comparison not like-for-like, naming both values."""
    differences: list[str] = []
    if baseline.judge_model != spec.judge_model:
        differences.append(
            f"judge model: baseline `{baseline.judge_model or 'none'}`, "
            f"candidate `{spec.judge_model or 'none'}`"
        )
    if baseline.dataset_id != spec.dataset_id:
        differences.append(f"dataset: baseline {baseline.dataset_id}, candidate {spec.dataset_id}")
    if set(baseline.metric_ids) != set(spec.metric_ids):

        def names(ids: list[int] | tuple[int, ...]) -> str:
            return (
                ", ".join(metrics_by_id[i].name if i in metrics_by_id else str(i) for i in ids)
                or "none"
            )

        differences.append(
            f"metrics: baseline [{names(baseline.metric_ids)}], candidate [{names(spec.metric_ids)}]"
        )
    return differences


class Gate:
    """One gate: create/start/poll/compare/decide against an injected client, clock and sleep."""

    def __init__(
        self,
        settings: Settings,
        client: CompletionKitClient,
        *,
        log: Log,
        clock: Clock,
        sleep: Sleep,
        deadline: Deadline,
        commit: str | None = None,
        facts: Facts | None = None,
        signoffs: SignOffs | None = None,
        known_metrics: dict[int, Metric] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.log = log
        self.clock = clock
        self.sleep = sleep
        self.commit = commit
        self.deadline = deadline.at
        self.tolerances = tolerances_of(settings)
        self.signoffs = signoffs
        self.facts = facts or Facts(command=settings.command)
        # Metrics read so far, by id: a cache that the gates of one step's prompt files share.
        self.known_metrics = {} if known_metrics is None else known_metrics

    def learn(self, **facts: Any) -> Facts:
        """Record facts as the gate learns them: a new immutable value each time."""
        self.facts = replace(self.facts, **facts)
        return self.facts

    def metric(self, metric_id: int) -> Metric:
        if metric_id not in self.known_metrics:
            self.known_metrics[metric_id] = self.client.get_metric(metric_id)
        return self.known_metrics[metric_id]

    def run_url(self, run_id: int) -> str:
        return f"{self.settings.web_root}/runs/{run_id}"

    # -- step 1: the baseline ----------------------------------------------------------------------

    def resolve_baseline(self, candidate: Prompt) -> Run:
        settings = self.settings
        if settings.baseline_run_id is not None:
            baseline = self.client.get_run(settings.baseline_run_id)
            if baseline.status != "completed":
                raise ConfigurationError(
                    f"baseline-run-id {baseline.id} is `{baseline.status}`, not completed.",
                    hint="Pass a completed, scored run as baseline-run-id, or leave it empty to use "
                    "the last green run of the live prompt.",
                )
            if not baseline.has_scores:
                raise ConfigurationError(
                    f"baseline-run-id {baseline.id} completed without scores.",
                    hint="Pick a run whose metrics were graded (it needs a judge model).",
                )
            return baseline
        if settings.baseline_prompt_id is not None:
            live = self.client.get_prompt(settings.baseline_prompt_id)
        elif candidate.family_key:
            live = self.client.get_prompt(candidate.family_key)
        else:
            live = candidate
        self.learn(baseline_prompt_id=live.id)
        for run in self.client.list_runs(prompt_id=live.id, status="completed"):
            if run.status == "completed" and run.has_scores and not is_gate_run(run):
                self.log.info(
                    f"Baseline: run {run.id} ({run.name}), the last green run of prompt {live.id}"
                )
                return run
        raise ConfigurationError(
            f"The live prompt (id {live.id}, version {live.version_number}) has no completed, "
            "scored run that is not a gate run, so there is no baseline to compare with.",
            hint="Pass baseline-run-id, or capture a baseline first with "
            "`ckaction rebaseline` (command: rebaseline).",
        )

    def chosen_baseline(self) -> Run:
        """baseline-run-id as given, or the last green run of prompt-id's live version: the run
        that rebaseline and calibrate start from."""
        if self.settings.baseline_run_id is not None:
            return self.client.get_run(self.settings.baseline_run_id)
        assert self.settings.prompt_id is not None
        return self.resolve_baseline(self.client.get_prompt(self.settings.prompt_id))

    # -- step 2: what to run -----------------------------------------------------------------------

    def plan(self, baseline: Run | None) -> tuple[RunSpec, dict[int, Metric]]:
        """What the candidate run is asked to do: the inputs, else the baseline's settings (a new
        prompt, scored on its own, has no baseline: the inputs must say it all)."""
        settings = self.settings
        assert settings.prompt_id is not None
        source = f"Baseline run {baseline.id} has" if baseline else "A new prompt has no baseline:"
        dataset_id = settings.dataset_id or (baseline.dataset_id if baseline else None)
        metric_ids = settings.metric_ids or tuple(baseline.metric_ids if baseline else ())
        if dataset_id is None:
            raise ConfigurationError(
                f"{source} no dataset and dataset-id is empty.", hint="Set dataset-id."
            )
        if not metric_ids:
            raise ConfigurationError(
                f"{source} no metrics and metric-ids is empty.",
                hint="Set metric-ids, e.g. metric-ids: 1,2,3.",
            )
        spec = RunSpec(
            prompt_id=settings.prompt_id,
            dataset_id=dataset_id,
            metric_ids=tuple(metric_ids),
            judge_model=settings.judge_model or (baseline.judge_model if baseline else None),
            temperature=settings.temperature
            if settings.temperature is not None
            else (baseline.temperature if baseline else None),
            judge_temperature=baseline.judge_temperature if baseline else None,
            max_tokens=baseline.max_tokens if baseline else None,
            expected_column=baseline.expected_column if baseline else None,
        )
        metrics = {mid: self.metric(mid) for mid in spec.metric_ids}
        judged = [m.name for m in metrics.values() if m.is_llm_judge]
        if judged and not spec.judge_model:
            raise ConfigurationError(
                f"No judge model: LLM-judge metrics ({', '.join(judged)}) would not be graded, "
                "and the run would complete with no scores.",
                hint="Set judge-model (the baseline run has none to inherit).",
            )
        for mid in baseline.metric_ids if baseline else ():
            if mid not in metrics:
                metrics[mid] = self.metric(mid)
        return spec, metrics

    # -- steps 3 and 4: create (or reuse) and start ------------------------------------------------

    def find_marked(self, spec: RunSpec, name: str, *, reusable: bool = False) -> Run | None:
        """The newest run carrying this gate's mark that has not failed and whose settings are
        the plan's (a mark is a name: anyone can write it); with `reusable`, also not one that
        completed without scores (re-running the job must be able to recover)."""
        for run in self.client.list_runs(prompt_id=spec.prompt_id, **{"tag[]": GATE_TAG}):
            if run.name != name or run.status == "failed":
                continue
            if reusable and run.status == "completed" and not run.has_scores:
                continue
            differences = reuse_differences(run, spec)
            if differences:
                self.log.warning(
                    f"Run {run.id} carries this gate's mark but its settings differ from the "
                    f"plan ({'; '.join(differences)}): not reused, a new run is created.",
                    title="Run not reused",
                )
                continue
            return run
        return None

    def find_after_uncertain_create(self, spec: RunSpec, name: str) -> Run | None:
        """Look for a create that may still be landing: now, then twice more a moment apart."""
        for attempt in range(LOOKUP_ATTEMPTS):
            if attempt:
                self.sleep(LOOKUP_PAUSE_SECONDS)
            found = self.find_marked(spec, name)
            if found is not None:
                return found
        return None

    def obtain_run(
        self, spec: RunSpec, name: str | None = None, *, new_prompt: bool = False
    ) -> Run:
        """The candidate run: reused when one carries its mark, else created. The mark is the
        commit's (`run_mark`) unless `name` gives a content-addressed one, reusable from any
        commit. A prompt created just now (`new_prompt`) has no run to look for."""
        same = "same configuration" if name else "same commit and configuration"
        content_addressed = name is not None
        name = name or run_mark(spec, self.commit)
        if self.settings.reuse_runs and (self.commit or content_addressed) and not new_prompt:
            existing = self.find_marked(spec, name, reusable=True)
            if existing is not None:
                self.learn(reused_run=True)
                self.log.info(
                    f"Reusing run {existing.id} ({existing.status}): {same}, so no new "
                    "evaluation is paid for."
                )
                return existing
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            try:
                run = self.client.create_run(spec.body(name))
                self.log.info(f"Created run {run.id} ({name})")
                return run
            except UncertainOutcome as exc:
                self.log.warning(
                    f"Creating the run may or may not have worked ({exc.message}); looking it up "
                    "before trying again.",
                    title="Uncertain create",
                )
                found = self.find_after_uncertain_create(spec, name)
                if found is not None:
                    self.log.info(f"Found run {found.id}: the create had reached CompletionKit.")
                    return found
                if attempt == MAX_WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def start(self, run: Run) -> Run:
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            if run.status != "pending":
                return run
            try:
                return self.client.generate(run.id)
            except UncertainOutcome as exc:
                self.log.warning(
                    f"Starting run {run.id} may or may not have worked ({exc.message}); reading "
                    "the run before sending it again.",
                    title="Uncertain start",
                )
                run = self.client.get_run(run.id)
                if attempt == MAX_WRITE_ATTEMPTS and run.status == "pending":
                    raise
            except Unprocessable:
                current = self.client.get_run(run.id)
                if current.status in ("running", "completed"):
                    return current
                raise
        return run

    # -- step 5: wait ------------------------------------------------------------------------------

    def wait(self, run: Run) -> Run:
        (finished,) = self.wait_all([run], lambda: [self.client.get_run(run.id)])
        return finished

    def wait_all(self, runs: Sequence[Run], read_runs: Callable[[], list[Run]]) -> list[Run]:
        """Wait for every run to finish (see `wait_for_runs`), or raise `GateTimeout` at the
        step's deadline."""
        ids = ", ".join(str(run.id) for run in runs)
        with self.log.group(f"Waiting for run{'s' if len(runs) > 1 else ''} {ids}"):
            runs = wait_for_runs(
                runs,
                read_runs,
                clock=self.clock,
                sleep=self.sleep,
                deadline=self.deadline,
                say=self.log.info,
            )
        unfinished = [run for run in runs if not run.is_terminal]
        if unfinished:
            raise self.timed_out(unfinished)
        return runs

    def timed_out(self, unfinished: list[Run]) -> GateTimeout:
        within = f"within timeout-minutes ({self.settings.timeout_minutes:g})"
        if len(unfinished) == 1:
            run = unfinished[0]
            message = (
                f"Run {run.id} did not finish {within}; it is still `{run.status}` on "
                f"CompletionKit: {self.run_url(run.id)}"
            )
        else:
            message = f"Runs {', '.join(str(r.id) for r in unfinished)} did not finish {within}; "
            message += "they are still running on CompletionKit: "
            message += ", ".join(self.run_url(run.id) for run in unfinished)
        return GateTimeout(
            message,
            hint="Raise timeout-minutes, or use a smaller (smoke) dataset on pushes. "
            "The run goes on; a re-run of this job with reuse-runs attaches to it.",
        )

    def response_facts(self, run_id: int) -> dict[int, ResponseFacts]:
        return {r.id: ResponseFacts.of(r) for r in self.client.responses(run_id)}

    # -- the whole gate ----------------------------------------------------------------------------

    def run(self) -> Report:
        settings = self.settings
        assert settings.prompt_id is not None
        self.learn(prompt_id=settings.prompt_id)
        with self.log.group("Resolving the baseline"):
            candidate_prompt = self.client.get_prompt(settings.prompt_id)
            self.learn(prompt_label=_prompt_label(candidate_prompt))
            baseline = self.resolve_baseline(candidate_prompt)
            self.learn(baseline=RunRef(baseline.id, self.run_url(baseline.id), baseline.name))
            spec, metrics = self.plan(baseline)
            self.learn(
                dataset_id=spec.dataset_id,
                judge_model=spec.judge_model,
                not_like_for_like=tuple(like_for_like_differences(spec, baseline, metrics)),
                rebaseline_judge=changed_judge(spec, baseline),
            )
        with self.log.group("Creating and starting the candidate run"):
            run = self.obtain_run(spec)
            self.learn(candidate=RunRef(run.id, self.run_url(run.id), run.name))
            run = self.start(run)
        run = self.wait(run)
        return self.conclude(run, baseline, spec)

    def scored(self, run: Run) -> None:
        """Check the finished run (it did not fail, it has scores) and learn its notes."""
        self.learn(avg_score=run.avg_score)
        if run.status == "failed":
            raise RunFailed(
                f"Run {run.id} failed on CompletionKit: "
                f"{run.failure_summary or run.error_message or 'no reason given'}",
                hint=f"Open {self.run_url(run.id)} to see which rows failed and why.",
            )
        if not run.has_scores:
            raise NothingMeasured(
                f"Run {run.id} completed without any score (no graded metric).",
                hint="A run needs a judge model for LLM-judge metrics; check judge-model and "
                "metric-ids.",
            )
        self.learn(notes=(*self.facts.notes, *_run_notes(run)))

    def conclude(self, run: Run, baseline: Run, spec: RunSpec) -> Report:
        """Steps after the wait: check the finished run, compare it with the baseline, decide."""
        self.scored(run)
        with self.log.group("Comparing with the baseline"):
            # Only acyclic objects are built here, tens of thousands of them on a large dataset:
            # pausing the cyclic collector keeps the cost linear in the number of rows.
            with collector_paused():
                comparison = self.client.compare(baseline.id, run.id)
                baseline_responses = self.response_facts(baseline.id)
                candidate_responses = self.response_facts(run.id)
                evaluation = evaluate(
                    comparison,
                    self.tolerances,
                    baseline_responses=baseline_responses,
                    candidate_responses=candidate_responses,
                    signoffs=self.signoffs,
                    required_metrics=spec.metric_ids,
                    metric_kinds={m: self.metric(m).metric_type for m in spec.metric_ids},
                )
            self.log.info(
                f"{evaluation.counts.compared} rows compared, {evaluation.counts.regressed} regressed"
            )
        self.learn(evaluation=evaluation)
        if evaluation.version_drift:
            self.learn(
                not_like_for_like=(
                    *self.facts.not_like_for_like,
                    "metric versions: the rubric of "
                    + ", ".join(evaluation.version_drift)
                    + " changed between the baseline and the candidate",
                )
            )
        differences = self.facts.not_like_for_like
        if differences and self.settings.on_stale_baseline == "fail":
            raise StaleBaseline(
                "The comparison is not like-for-like ("
                + "; ".join(differences)
                + "), and on-stale-baseline is fail.",
                hint="Capture a fresh baseline under today's conditions with "
                f"`{rebaseline_command(self.facts)}` (or command: rebaseline), then gate against it.",
            )
        return Report(result=evaluation.result, tolerances=self.tolerances, facts=self.facts)


def wait_for_runs(
    runs: Sequence[Run],
    read_runs: Callable[[], list[Run]],
    *,
    clock: Clock,
    sleep: Sleep,
    deadline: float,
    say: Callable[[str], None],
    on_finished: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Look at the runs until every one has finished or the deadline has passed, and return them
    as last seen. `read_runs()` reads them all at once (one request per look), in the same order;
    the sleeps between looks follow `polling.Poll` and never pass the deadline. A run's progress
    line is said each time it changes; `on_finished` is called once with each run as it is first
    seen finished (so its comparison need not wait for the slowest run)."""
    current, poll = list(runs), Poll()
    said: dict[int, str] = {}
    handed: set[int] = set()
    while True:
        for run in current:
            line = _progress_line(run)
            if said.get(run.id) != line:
                say(line)
                said[run.id] = line
            if run.is_terminal and run.id not in handed and on_finished is not None:
                handed.add(run.id)
                on_finished(run)
        now = clock()
        if all(run.is_terminal for run in current) or now >= deadline:
            return current
        poll = poll.after(now, current)
        sleep(min(poll.delay, deadline - now))
        current = read_runs()


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _prompt_label(prompt: Prompt) -> str:
    version = f" v{prompt.version_number}" if prompt.version_number else ""
    return f"{prompt.name}{version}" if prompt.name else f"prompt {prompt.id}"


def _progress_line(run: Run) -> str:
    if run.progress is None:
        return f"run {run.id}: {run.status}"
    gen, judged = run.progress.generated, run.progress.judged
    failed = ""
    if gen.failed or judged.failed:
        failed = f", failed {gen.failed} generating / {judged.failed} judging"
    return (
        f"run {run.id}: {run.status}, generated {gen.done}/{gen.total}, "
        f"judged {judged.done}/{judged.total}{failed}"
    )


def _run_notes(run: Run) -> Iterator[str]:
    if run.progress and run.progress.generated.failed:
        yield (
            f"{counted(run.progress.generated.failed, 'row')} of run {run.id} failed to generate and were "
            "not compared."
        )
    if run.progress and run.progress.judged.failed:
        yield f"{counted(run.progress.judged.failed, 'row')} of run {run.id} failed judging."
    if run.temperature_ignored:
        yield "The provider ignored the temperature: scores may not reproduce."
    if run.judge_temperature_ignored:
        yield "The provider ignored the judge temperature: scores may not reproduce."
