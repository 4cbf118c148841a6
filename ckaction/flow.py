"""The gate's five steps: resolve the baseline, create (or reuse) the candidate run, start it, wait for
it, compare and decide. Collaborators (API client, clock, sleep, log) are passed in; nothing here
reads the environment or writes files. What the gate learns accumulates in `Gate.facts`, one
immutable value after another, so an error part-way still names what it got to."""

from __future__ import annotations

import gc
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote

from ckaction.api import CompletionKitClient
from ckaction.candidates import PASSED_TAG
from ckaction.clock import Clock, Deadline, Sleep, WallClock, utc_now
from ckaction.decide import Evaluation, Tolerances, evaluate, regressed_responses
from ckaction.errors import (
    ApiError,
    ConfigurationError,
    GateTimeout,
    NothingMeasured,
    RunFailed,
    StaleBaseline,
    UncertainOutcome,
)
from ckaction.flaky import ConfirmFacts
from ckaction.inputs import Settings
from ckaction.models import Comparison, Metric, Prompt, ResponseFacts, Run
from ckaction.polling import Poll
from ckaction.report import Facts, Report, RunRef, rebaseline_command, tolerances_of
from ckaction.runtags import GATE_TAG as GATE_TAG  # re-exported: where gates import it from
from ckaction.runtags import may_be_baseline
from ckaction.signoff import SignOffs
from ckaction.stuck import ProgressWatch
from ckaction.wording import counted, plural

MAX_WRITE_ATTEMPTS = 3
# An uncertain write (a lost answer) is read back this long, a pause apart, before it is resent.
READ_BACK_SECONDS = 10.0
READ_BACK_PAUSE_SECONDS = 2.0
# A pending run another job created is left to that job this long after we first see it.
PENDING_GRACE_SECONDS = 60.0
PENDING_LOOK_SECONDS = 5.0
LOCAL_MARK_PREFIX = "ckaction gate local-"
LOOKUP_ATTEMPTS = 3
LOOKUP_PAUSE_SECONDS = 2.0
RETRY_MIN_SECONDS = 30.0
"""`retry_failures` is sent only with at least this long left before the step's deadline."""
RETRY_RESERVE_SECONDS = 15.0
"""A retry still going this long before the deadline is given up on: the time left compares the
rows as they were (a retry never costs the verdict)."""


class Log(Protocol):
    def info(self, text: str) -> None: ...
    def warning(self, message: str, *, title: str = "") -> bool: ...
    def group(self, title: str) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class StepTools:
    """What every stage of a step works with, built once in `cli.App`: the CompletionKit client,
    the runner's log, the clock and the sleep, and the step's deadline."""

    client: CompletionKitClient
    log: Log
    clock: Clock
    sleep: Sleep
    deadline: Deadline


class RowConfirmer(Protocol):
    """What a gate needs of confirm-runs (`confirm.Confirmer`): the evaluation with its flagged
    rows re-tested, and what that did (None when there was nothing to confirm)."""

    def confirm(
        self,
        evaluation: Evaluation,
        *,
        baseline: Run,
        candidate: Run,
        inputs: Mapping[int, str | None],
        tolerances: Tolerances,
        label: str | None,
        mark: str,
        flagged_in_step: int = 0,
    ) -> tuple[Evaluation, ConfirmFacts | None]: ...


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


VERDICT_FIELDS = ("id", "input_data", "reviews.metric_id", "reviews.ai_feedback")
"""What the verdict reads of each response: rows pair by id and input; rationales per metric."""
OUTPUT_FIELD = "response_text"


def response_fields(*, with_output: bool) -> tuple[str, ...]:
    """The `fields` to download responses with: the verdict's, and the output when asked."""
    return (*VERDICT_FIELDS, OUTPUT_FIELD) if with_output else VERDICT_FIELDS


def run_mark(spec: RunSpec, commit: str | None) -> str:
    """The name every gate run carries: the commit and a hash of the run's configuration."""
    if commit is None:
        return f"{LOCAL_MARK_PREFIX}{secrets.token_hex(4)} cfg-{spec.config_hash()}"
    return f"ckaction gate {commit[:12]} cfg-{spec.config_hash()}"


@dataclass(frozen=True)
class Claim:
    """The run a gate will wait for, and whether this job created it: only its creator starts a
    run (a second `generate` makes the engine fail it)."""

    run: Run
    created: bool


def is_gate_run(run: Run) -> bool:
    return GATE_TAG in run.tag_names or (run.name or "").startswith("ckaction gate ")


def is_baseline_of(run: Run, prompt_id: int, dataset_id: int | None = None) -> bool:
    """A run the gate may take as `prompt_id`'s baseline: of that prompt (and of `dataset_id` when
    one is asked for), completed, scored, not a gate run, and not a confirm or calibrate run."""
    return (
        run.prompt_id == prompt_id
        and (dataset_id is None or run.dataset_id == dataset_id)
        and run.status == "completed"
        and run.has_scores
        and not is_gate_run(run)
        and may_be_baseline(run)
    )


def baselines_of(
    client: CompletionKitClient, prompt_id: int, dataset_id: int | None = None
) -> Iterator[Run]:
    """The runs that may be `prompt_id`'s baseline (on `dataset_id` when one is asked for), newest
    first: filtered by the server and checked here whatever its filter returned (an engine or a
    proxy may ignore it)."""
    filters: dict[str, Any] = {"prompt_id": prompt_id, "status": "completed"}
    if dataset_id is not None:
        filters["dataset_id"] = dataset_id
    return (
        run for run in client.list_runs(**filters) if is_baseline_of(run, prompt_id, dataset_id)
    )


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
        tools: StepTools,
        *,
        commit: str | None = None,
        facts: Facts | None = None,
        signoffs: SignOffs | None = None,
        known_metrics: dict[int, Metric] | None = None,
        confirmer: RowConfirmer | None = None,
        known_prompts: dict[str, Prompt] | None = None,
        wall_clock: WallClock = utc_now,
    ) -> None:
        self.settings = settings
        self.confirmer = confirmer
        self.tools = tools
        self.client = tools.client
        self.log = tools.log
        self.clock = tools.clock
        self.sleep = tools.sleep
        self.wall_clock = wall_clock
        self.commit = commit
        self.deadline = tools.deadline.at
        self.tolerances = tolerances_of(settings)
        self.signoffs = signoffs
        self.facts = facts or Facts(command=settings.command)
        # Metrics read so far, by id: a cache that the gates of one step's prompt files share.
        self.known_metrics = {} if known_metrics is None else known_metrics
        # Prompts read so far, by the identifier asked for: each `GET /prompts/:id` counts as a
        # production serve (engine 0.28.31), so a gate reads each prompt once.
        self.known_prompts = {} if known_prompts is None else dict(known_prompts)

    def learn(self, **facts: Any) -> Facts:
        """Record facts as the gate learns them: a new immutable value each time."""
        self.facts = replace(self.facts, **facts)
        return self.facts

    def metric(self, metric_id: int) -> Metric:
        if metric_id not in self.known_metrics:
            self.known_metrics[metric_id] = self.client.get_metric(metric_id)
        return self.known_metrics[metric_id]

    def prompt(self, ident: int | str) -> Prompt:
        """`GET /prompts/:ident` once per gate: a numeric id is that version row, a family key
        the family's current version."""
        key = str(ident)
        if key not in self.known_prompts:
            self.known_prompts[key] = self.client.get_prompt(quote(key, safe=""))
        return self.known_prompts[key]

    def live_version(self, prompt: Prompt) -> Prompt:
        """The current version of `prompt`'s family: `prompt` itself when it is current (no
        request), else one read of the family key."""
        if prompt.current or not prompt.family_key:
            return prompt
        return self.prompt(prompt.family_key)

    def run_url(self, run_id: int) -> str:
        return f"{self.settings.web_root}/runs/{run_id}"

    # -- step 1: the baseline ----------------------------------------------------------------------

    def resolve_baseline(self, candidate: Prompt, *, dataset_id: int | None = None) -> Run:
        """baseline-run-id, or the last green run of the live version (on `dataset_id` when one
        is given)."""
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
            live = self.prompt(settings.baseline_prompt_id)
        else:
            live = self.live_version(candidate)
        self.learn(baseline_prompt_id=live.id)
        # A prompt-id gate takes any dataset: on a smoke subset it compares with the full baseline
        # (missing rows and new cases are reported, the dataset a not-like-for-like note).
        newest = next(baselines_of(self.client, live.id, dataset_id), None)
        if newest is not None:
            self.log.info(
                f"Baseline: run {newest.id} ({newest.name}), the last green run of prompt {live.id}"
            )
            return newest
        raise ConfigurationError(
            f"The live prompt (id {live.id}, version {live.version_number}) has no completed, "
            "scored run that is not a gate run, so there is no baseline to compare with.",
            hint="Pass baseline-run-id, or capture a baseline first with "
            "`ckaction rebaseline` (command: rebaseline).",
        )

    def chosen_baseline(self) -> Run:
        """baseline-run-id as given, or the last green run of prompt-id's live version: the run
        that rebaseline and calibrate start from. With a prompt file, on its `eval:` dataset, the
        one its gate looks for a baseline on."""
        settings = self.settings
        if settings.baseline_run_id is not None:
            return self.client.get_run(settings.baseline_run_id)
        assert settings.prompt_id is not None
        dataset = settings.dataset_id if settings.prompt_files else None
        return self.resolve_baseline(self.prompt(settings.prompt_id), dataset_id=dataset)

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

    def marked_runs(self, spec: RunSpec, name: str) -> list[Run]:
        """The runs carrying this gate's mark that another look may reuse or attach to, lowest id
        (oldest) first: not failed, not completed without scores (re-running the job must be able
        to recover), and with the plan's settings (a mark is a name: anyone can write it). Every
        job on the commit applies this same rule, so they agree on the first one."""
        found: list[Run] = []
        for run in self.client.list_runs(prompt_id=spec.prompt_id, **{"tag[]": GATE_TAG}):
            if run.name != name or run.status == "failed":
                continue
            if run.status == "completed" and not run.has_scores:
                continue
            differences = reuse_differences(run, spec)
            if differences:
                self.log.warning(
                    f"Run {run.id} carries this gate's mark but its settings differ from the "
                    f"plan ({'; '.join(differences)}): not reused, a new run is created.",
                    title="Run not reused",
                )
                continue
            found.append(run)
        return sorted(found, key=lambda run: run.id)

    def find_marked(self, spec: RunSpec, name: str) -> Run | None:
        """The first (lowest id) run with this mark that may be reused (`marked_runs`)."""
        return next(iter(self.marked_runs(spec, name)), None)

    def read_back_create(self, spec: RunSpec, name: str) -> Run | None:
        """A create whose answer was lost may still be landing: look for it now and then a
        moment apart for `READ_BACK_SECONDS` (never past the deadline) before anything is sent
        again."""
        give_up = min(self.clock() + READ_BACK_SECONDS, self.deadline)
        while True:
            found = self.find_marked(spec, name)
            now = self.clock()
            if found is not None or now >= give_up:
                return found
            self.sleep(min(READ_BACK_PAUSE_SECONDS, give_up - now))

    def obtain_run(
        self, spec: RunSpec, name: str | None = None, *, new_prompt: bool = False
    ) -> Claim:
        """The candidate run: reused when one carries its mark, else created. The mark is the
        commit's (`run_mark`) unless `name` gives a content-addressed one, reusable from any
        commit. A prompt created just now (`new_prompt`) has no run to look for. A mark that
        other jobs may share is settled after the create (`settle`): one run per mark."""
        same = "same configuration" if name else "same commit and configuration"
        name = name or run_mark(spec, self.commit)
        shared = self.settings.reuse_runs and not name.startswith(LOCAL_MARK_PREFIX)
        if shared and not new_prompt:
            existing = self.find_marked(spec, name)
            if existing is not None:
                self.learn(reused_run=True)
                self.log.info(
                    f"Reusing run {existing.id} ({existing.status}): {same}, so no new "
                    "evaluation is paid for."
                )
                return Claim(existing, created=False)
        claim = self.create(spec, name)
        return self.settle(spec, name, claim) if shared else claim

    def create(self, spec: RunSpec, name: str) -> Claim:
        """`POST /runs`, sent again only after a read-back found no trace of the lost one. A run
        found by the read-back may be another job's: it is not ours to start at once."""
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            try:
                run = self.client.create_run(spec.body(name))
                self.log.info(f"Created run {run.id} ({name})")
                return Claim(run, created=True)
            except UncertainOutcome as exc:
                self.log.warning(
                    f"Creating the run may or may not have worked ({exc.message}); reading it "
                    "back before trying again.",
                    title="Uncertain create",
                )
                found = self.read_back_create(spec, name)
                if found is not None:
                    self.log.info(f"Found run {found.id}: the create had reached CompletionKit.")
                    return Claim(found, created=False)
                if attempt == MAX_WRITE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def settle(self, spec: RunSpec, name: str, claim: Claim) -> Claim:
        """Two jobs on one commit may both have created a run with this mark: re-list, and the
        lowest id wins. Our run, if it lost, is deleted while still `pending` (never started, so
        free) and we attach to the winner, which its creator starts."""
        if not claim.created:
            return claim
        mine = claim.run
        winner = next(iter(self.marked_runs(spec, name)), mine)
        if winner.id >= mine.id:
            return claim
        self.client.delete_run(mine.id)
        self.learn(reused_run=True)
        self.log.info(
            f"Run {winner.id} with the same mark was created first (by another job on this "
            f"commit): deleted our run {mine.id} before it started, and attaching to run "
            f"{winner.id}."
        )
        return Claim(winner, created=False)

    def begin(self, claim: Claim) -> Run:
        """The claimed run, started: by us when we created it, else by its creator (`await_start`)."""
        return self.start(claim.run) if claim.created else self.await_start(claim.run)

    def await_start(self, run: Run) -> Run:
        """A `pending` run this job did not create is its creator's to start: wait for that. Only
        when it is still pending `PENDING_GRACE_SECONDS` after we first saw it (so at least that
        long after its `created_at`, whatever the clocks' skew) is its creator taken to be gone,
        and we start it ourselves, from a fresh read (a second `generate` would fail the run)."""
        if run.status != "pending":
            return run
        self.log.info(f"Run {run.id} is pending: waiting for the job that created it to start it.")
        grace_ends = self.clock() + PENDING_GRACE_SECONDS
        while True:
            now = self.clock()
            if now >= self.deadline:
                raise self.timed_out([run])
            if now >= grace_ends:
                run = self.client.get_run(run.id)
                if run.status != "pending":
                    return run
                self.log.warning(
                    f"Run {run.id} is still pending {PENDING_GRACE_SECONDS:g} s after we first "
                    "saw it: the job that created it is gone, so this job starts it.",
                    title="Starting another job's run",
                )
                return self.start(run)
            self.sleep(min(PENDING_LOOK_SECONDS, grace_ends - now, self.deadline - now))
            run = self.client.get_run(run.id)
            if run.status != "pending":
                return run

    def start(self, run: Run) -> Run:
        """`POST /runs/:id/generate` on a run this job created. An answer that was lost is read
        back for a while (`read_back_start`) before the start is sent again: the engine fails a
        run that is asked to start twice (`Run#start!` answers any state but pending or failed
        with `fail_with_summary!`, app/models/completion_kit/run.rb), so a refused start is the
        run's failure, with no recovery to attempt."""
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            if run.status != "pending":
                return run
            try:
                return self.client.generate(run.id)
            except UncertainOutcome as exc:
                self.log.warning(
                    f"Starting run {run.id} may or may not have worked ({exc.message}); reading "
                    "the run back before sending it again.",
                    title="Uncertain start",
                )
                run = self.read_back_start(run)
                if attempt == MAX_WRITE_ATTEMPTS and run.status == "pending":
                    raise
        return run

    def read_back_start(self, run: Run) -> Run:
        """The run, read until it leaves `pending` or `READ_BACK_SECONDS` have passed (never past
        the deadline): a start answered 504 may still be processing."""
        give_up = min(self.clock() + READ_BACK_SECONDS, self.deadline)
        while True:
            run = self.client.get_run(run.id)
            now = self.clock()
            if run.status != "pending" or now >= give_up:
                return run
            self.sleep(min(READ_BACK_PAUSE_SECONDS, give_up - now))

    # -- step 5: wait ------------------------------------------------------------------------------

    def wait(self, run: Run) -> Run:
        (finished,) = self.wait_all([run], lambda: [self.client.get_run(run.id)])
        return finished

    def wait_all(
        self,
        runs: Sequence[Run],
        read_runs: Callable[[], list[Run]],
        *,
        stop: Callable[[list[Run]], bool] | None = None,
    ) -> list[Run]:
        """Wait for every run to finish (see `wait_for_runs`) or `stop` to say enough, or raise
        `GateTimeout` at the step's deadline."""
        ids = ", ".join(str(run.id) for run in runs)
        with self.log.group(f"Waiting for run{'s' if len(runs) > 1 else ''} {ids}"):
            runs = wait_for_runs(
                runs,
                read_runs,
                clock=self.clock,
                sleep=self.sleep,
                deadline=self.deadline,
                say=self.log.info,
                stop=stop,
            )
        unfinished = [run for run in runs if not run.is_terminal]
        stopped = stop is not None and stop(runs) and self.clock() < self.deadline
        if unfinished and not stopped:
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

    def response_facts(
        self, run_id: int, fields: Sequence[str], keep_output: frozenset[int] = frozenset()
    ) -> dict[int, ResponseFacts]:
        """The run's responses as `ResponseFacts`, downloading only `fields`; the output is kept
        for the responses in `keep_output`."""
        return {
            r.id: ResponseFacts.of(r, keep_output=r.id in keep_output)
            for r in self.client.responses(run_id, fields)
        }

    def compared_responses(
        self, comparison: Comparison
    ) -> tuple[dict[int, ResponseFacts], dict[int, ResponseFacts]]:
        """Both runs' responses, downloaded after the compare with the fields the verdict needs:
        ids, input and the reviews' rationale, plus `response_text` only when some row regressed
        (the report shows those rows' outputs on both sides)."""
        regressed = regressed_responses(comparison, self.tolerances)
        fields = response_fields(with_output=bool(regressed))
        baseline = self.response_facts(comparison.left_run_id, fields, regressed.baseline)
        candidate = self.response_facts(comparison.right_run_id, fields, regressed.candidate)
        return baseline, candidate

    # -- the whole gate ----------------------------------------------------------------------------

    def run(self) -> Report:
        settings = self.settings
        assert settings.prompt_id is not None
        self.learn(prompt_id=settings.prompt_id)
        with self.log.group("Resolving the baseline"):
            candidate_prompt = self.prompt(settings.prompt_id)
            self.learn(prompt_label=_prompt_label(candidate_prompt))
            baseline = self.resolve_baseline(candidate_prompt)
            self.learn(baseline=RunRef(baseline.id, self.run_url(baseline.id), baseline.name))
            self.client.probe_engine(baseline.id)
            spec, metrics = self.plan(baseline)
            self.learn(
                dataset_id=spec.dataset_id,
                judge_model=spec.judge_model,
                not_like_for_like=tuple(like_for_like_differences(spec, baseline, metrics)),
                rebaseline_judge=changed_judge(spec, baseline),
            )
        with self.log.group("Creating or reusing the candidate run"):
            claim = self.obtain_run(spec)
        run = self.see_through(claim, spec)
        return self.conclude(run, baseline, spec)

    def see_through(self, claim: Claim, spec: RunSpec) -> Run:
        """The claimed run, started and waited for. A run this job did not start (reused or
        attached to) that is stuck (`stuck.ProgressWatch`) is not waited on: a fresh run is
        claimed under a mark that names the stuck one, so every job that finds it stuck agrees on
        the same fresh run."""
        while True:
            run = claim.run
            self.learn(candidate=RunRef(run.id, self.run_url(run.id), run.name))
            with self.log.group("Starting the candidate run"):
                run = self.begin(claim)
            if claim.created:
                return self.wait(run)
            run, stuck = self.wait_unless_stuck(run)
            if stuck is None:
                return run
            claim = self.replacement(run, stuck, spec)

    def replacement(self, stuck_run: Run, why: str, spec: RunSpec) -> Claim:
        """A fresh run instead of a stuck one, said in the report; its mark names the stuck run,
        so every job that finds that run stuck claims the same fresh one."""
        said = f"{why}: not waited on; a fresh run was started."
        self.log.warning(said, title="Stuck run")
        self.learn(notes=(*self.facts.notes, said), reused_run=False)
        mark = stuck_run.name or run_mark(spec, self.commit)
        return self.obtain_run(spec, f"{mark} fresh-{stuck_run.id}")

    def wait_unless_stuck(
        self, run: Run, *, give_up_at: float | None = None
    ) -> tuple[Run, str | None]:
        """Wait for a run this job did not start (or whose retry it sent): (the finished run,
        None), or (the run, why it is not waited on) as soon as it is stuck or, with
        `give_up_at`, still running then; `GateTimeout` at the deadline."""
        watch = ProgressWatch.start(run, self.clock(), self.settings.stale_minutes * 60.0)
        stuck: str | None = None

        def look() -> list[Run]:
            nonlocal watch
            current = self.client.get_run(run.id)
            watch = watch.seen(current, self.clock())
            return [current]

        def is_stuck(runs: list[Run]) -> bool:
            nonlocal stuck
            now = self.clock()
            stuck = watch.stuck(runs[0], now)
            if stuck is None and give_up_at is not None and now >= give_up_at:
                left = self.deadline - now
                stuck = f"run {run.id} was still running with {left:.0f} s of timeout-minutes left"
            return stuck is not None

        (last,) = self.wait_all([run], look, stop=is_stuck)
        return last, stuck

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

    def salvage(self, run: Run) -> Run:
        """Give the finished run's failed rows (failed to generate or to be judged) one more
        chance before they are declared unscored: `POST /runs/:id/retry_failures` once, when at
        least `RETRY_MIN_SECONDS` are left, then wait for the run again. A run the retry leaves
        `running` with no progress falls under the stuck rule (`wait_unless_stuck`), and one still
        running `RETRY_RESERVE_SECONDS` before the deadline is given up on: either way its rows
        are compared as they were before the retry.
        What was retried, and what came of it, is a note of the report."""
        failed = failed_rows(run)
        if not failed or not run.is_terminal:
            return run
        were = plural(failed, "was", "were")
        not_retried = f"{counted(failed, 'failed row')} of run {run.id} {were} not retried"
        left = self.deadline - self.clock()
        if left < RETRY_MIN_SECONDS:
            self.note(f"{not_retried}: {left:.0f} s of timeout-minutes were left.")
            return run
        try:
            retried = self.client.retry_failures(run.id)
        except UncertainOutcome as exc:
            self.log.warning(
                f"Retrying the failed rows of run {run.id} may or may not have worked "
                f"({exc.message}); reading the run instead of sending it again.",
                title="Uncertain retry",
            )
            retried = self.client.get_run(run.id)
            if retried.status != "running":
                self.note(
                    f"{not_retried}: the answer to retry_failures was lost and the run shows no "
                    "retry."
                )
                return retried
        except ApiError as exc:
            if exc.status != HTTPStatus.CONFLICT:
                raise
            self.note(
                f"{not_retried}: a metric changed since the run was judged (CompletionKit "
                "refuses to mix versions in one run)."
            )
            return run
        self.log.info(f"Retrying {counted(failed, 'failed row')} of run {run.id} once")
        give_up_at = self.deadline - RETRY_RESERVE_SECONDS
        finished, stuck = self.wait_unless_stuck(retried, give_up_at=give_up_at)
        if stuck is not None:  # not waited on: the rows stay as they were
            self.note(
                f"The retry of {counted(failed, 'failed row')} of run {run.id} was not waited on "
                f"({stuck}): {plural(failed, 'it is', 'they are')} compared as they were."
            )
            return run
        still = failed_rows(finished)
        self.note(
            f"Retried {counted(failed, 'failed row')} of run {run.id} once (retry_failures): "
            f"{max(failed - still, 0)} recovered, {still} still failed."
        )
        return finished

    def note(self, text: str) -> None:
        self.log.info(text)
        self.learn(notes=(*self.facts.notes, text))

    def conclude(self, run: Run, baseline: Run, spec: RunSpec) -> Report:
        """Steps after the wait: salvage failed rows once, check the finished run, compare it with
        the baseline, decide."""
        run = self.salvage(run)
        self.scored(run)
        with self.log.group("Comparing with the baseline"):
            # Only acyclic objects are built here, tens of thousands of them on a large dataset:
            # pausing the cyclic collector keeps the cost linear in the number of rows.
            with collector_paused():
                comparison = self.client.compare(baseline.id, run.id)
                baseline_responses, candidate_responses = self.compared_responses(comparison)
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
        if self.confirmer is not None:
            inputs = {rid: facts.input_data for rid, facts in baseline_responses.items()}
            return self.confirm(self.confirmer, baseline, run, inputs)
        return Report(result=evaluation.result, tolerances=self.tolerances, facts=self.facts)

    def confirm(
        self,
        confirmer: RowConfirmer,
        baseline: Run,
        run: Run,
        inputs: Mapping[int, str | None],
        *,
        flagged_in_step: int = 0,
    ) -> Report:
        """Confirm before failing (`confirm-runs`) the evaluation this gate learned: re-test its
        flagged rows, learn the evaluation with their verdicts and what the confirm did, and
        report. `inputs` are the baseline's `input_data` by response id; `flagged_in_step` the
        flagged rows of the whole step (prompt files), for `confirm-max-rows`."""
        evaluation = self.facts.evaluation
        assert evaluation is not None
        label = self.signoffs.label.describe() if self.signoffs and self.signoffs.label else None
        mark = f"{self.commit[:12]} run {run.id}" if self.commit else f"run {run.id}"
        confirmed, done = confirmer.confirm(
            evaluation,
            baseline=baseline,
            candidate=run,
            inputs=inputs,
            tolerances=self.tolerances,
            label=label,
            mark=mark,
            flagged_in_step=flagged_in_step,
        )
        if done is not None:
            self.learn(evaluation=confirmed, confirmation=done)
        return Report(result=confirmed.result, tolerances=self.tolerances, facts=self.facts)


def wait_for_runs(
    runs: Sequence[Run],
    read_runs: Callable[[], list[Run]],
    *,
    clock: Clock,
    sleep: Sleep,
    deadline: float,
    say: Callable[[str], None],
    on_finished: Callable[[Run], None] | None = None,
    stop: Callable[[list[Run]], bool] | None = None,
) -> list[Run]:
    """Look at the runs until every one has finished or the deadline has passed, and return them
    as last seen. `read_runs()` reads them all at once (one request per look), in the same order;
    the sleeps between looks follow `polling.Poll` and never pass the deadline. A run's progress
    line is said each time it changes; `on_finished` is called once with each run as it is first
    seen finished (so its comparison need not wait for the slowest run); `stop(runs)` true ends
    the wait early."""
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
        if stop is not None and stop(current):
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


def failed_rows(run: Run) -> int:
    """Rows of the run that failed to generate or to be judged (without `progress`, the failed
    responses it lists)."""
    if run.progress is None:
        return len(run.failed_response_ids)
    return run.progress.generated.failed + run.progress.judged.failed


def _run_notes(run: Run) -> Iterator[str]:
    if run.progress and run.progress.generated.failed:
        failed = run.progress.generated.failed
        yield (
            f"{counted(failed, 'row')} of run {run.id} failed to generate and "
            f"{plural(failed, 'was', 'were')} not compared."
        )
    if run.progress and run.progress.judged.failed:
        yield f"{counted(run.progress.judged.failed, 'row')} of run {run.id} failed judging."
    if run.temperature_ignored:
        yield "The provider ignored the temperature: scores may not reproduce."
    if run.judge_temperature_ignored:
        yield "The provider ignored the judge temperature: scores may not reproduce."
