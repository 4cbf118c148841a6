"""`command: publish` with `prompt-files`: each file's content becomes the live version of its
prompt, and only content that passed a gate.

For each file: content already live → nothing to do (a description alone is never released).
Otherwise a `ckaction-passed` run of a scratch candidate with exactly this content must exist,
whatever its dataset (`require-passed-gate: false` turns that off). All or nothing: every file's
record is checked before anything is written. Then `PATCH /prompts/<live id>` (the engine makes a
new, published version of a row with runs) or, for a new prompt (`create: true`), `POST /prompts`;
an answer that is not `current` is published explicitly. Publish never pays for a run.

Two guards keep history and order:

* The engine edits a live row without runs in place, erasing the previous version. Such a row first
  gets a pending run (created, never generated: free) tagged `ckaction-version-anchor`, so the PATCH
  makes a new version; the anchor is deleted afterwards.
* On a push, publish only while the pushed commit is still its branch's head (two quick merges must
  not release the older content last); when GitHub cannot say, publish and say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ckaction.api import CompletionKitClient
from ckaction.candidates import ANCHOR_TAG, content_of_prompt, find_candidate, passed_runs
from ckaction.context import RunContext
from ckaction.errors import PublishRefused, UncertainOutcome
from ckaction.flow import Log
from ckaction.github import GitHubError, branch_head
from ckaction.inputs import Settings
from ckaction.liveprompt import find_live
from ckaction.models import Prompt, Run
from ckaction.promptfile import PromptFile, resolve_prompt_files
from ckaction.report import (
    ErrorInfo,
    Facts,
    FileOutcome,
    FileResult,
    Report,
    step_result,
    tolerances_of,
)

if TYPE_CHECKING:
    from github import Github

ANCHOR_RUN_NAME = "ckaction version anchor (keeps the previous version; deleted after publish)"
SHORT_SHA = 12
NEVER_PASSED = "Never passed a gate"


@dataclass(frozen=True)
class Planned:
    """What publish will do with one file, learned before anything is written."""

    file: PromptFile
    live: Prompt | None  # None: a new prompt (`create: true`)
    candidate: Prompt | None = None  # the scratch candidate with this content
    passed: Run | None = None  # its `ckaction-passed` run

    @property
    def unchanged(self) -> bool:
        return self.live is not None and content_of_prompt(self.live) == self.file.content


class Release:
    """One publish of prompt files; `facts` is what it has learned so far (also when it stops)."""

    def __init__(
        self,
        settings: Settings,
        client: CompletionKitClient,
        *,
        context: RunContext,
        log: Log,
        facts: Facts,
        github: Github | None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.context = context
        self.log = log
        self.facts = facts
        self.github = github
        self.tolerances = tolerances_of(settings)

    def learn(self, **facts: Any) -> Facts:
        self.facts = replace(self.facts, **facts)
        return self.facts

    def say(self, sentence: str) -> None:
        self.log.info(sentence)
        self.learn(done=(*self.facts.done, sentence))

    def run(self) -> Report:
        assert self.settings.prompt_files is not None
        files = resolve_prompt_files(self.settings.prompt_files, self.context.workspace)
        if self.superseded():
            return Report(result="passed", tolerances=self.tolerances, facts=self.facts)
        plans = tuple(self.plan(file) for file in files)
        self.refuse_what_never_passed(plans)
        with self.anchored(plans):
            outcomes = tuple(self.release(plan) for plan in plans)
        self.learn(files=outcomes)
        if len(outcomes) == 1:
            self.learn(outputs=outcomes[0].report.facts.outputs)
        return Report(result=step_result(outcomes), tolerances=self.tolerances, facts=self.facts)

    # -- before anything is written ----------------------------------------------------------------

    def superseded(self) -> bool:
        """On a push: whether a newer commit is its branch's head now (then it says so)."""
        context = self.context
        if context.event_name != "push" or not (context.branch and context.sha):
            return False
        pushed, branch = context.sha, context.branch
        try:
            if self.github is None:
                raise GitHubError(None, "no github-token")
            head = branch_head(self.github, context.repository, branch)
        except GitHubError as exc:
            self.say(
                f"Could not read the head of {branch} from GitHub ({exc.message}): publishing "
                f"without knowing whether {pushed[:SHORT_SHA]} is still its newest commit."
            )
            return False
        if head == pushed:
            return False
        self.say(
            f"Commit {pushed[:SHORT_SHA]} is no longer the head of {branch} (it is "
            f"{head[:SHORT_SHA]} now): nothing published here; the newer commit's publish "
            "releases its content."
        )
        return True

    def plan(self, file: PromptFile) -> Planned:
        live = find_live(self.client, file.prompt)
        if live is None and not file.create:
            raise PublishRefused(
                f"{file.path}: no live prompt is named `{file.prompt}`.",
                hint="Fix `prompt:` in the file, or set `create: true` for a new prompt that "
                "publish should create.",
            )
        planned = Planned(file, live)
        if planned.unchanged:
            return planned
        candidate = find_candidate(self.client, live.name if live else file.prompt, file.content)
        passed = next(passed_runs(self.client, candidate), None) if candidate else None
        return replace(planned, candidate=candidate, passed=passed)

    def refuse_what_never_passed(self, plans: tuple[Planned, ...]) -> None:
        """All or nothing: stop before any write when a file's content has no passed gate run."""
        if not self.settings.require_passed_gate:
            return
        refused = [p for p in plans if not p.unchanged and p.passed is None]
        if not refused:
            return
        names = ", ".join(f"{p.file.path} (`{p.file.prompt}`)" for p in refused)
        self.learn(files=tuple(self.not_published(p, p in refused) for p in plans))
        raise PublishRefused(
            f"This content never passed a gate: {names}. Nothing was published.",
            hint="Gate the prompt files first (a gate that passes tags its run ckaction-passed), "
            "or set require-passed-gate to false (`--require-passed-gate false` on the CLI) to "
            "publish without one.",
        )

    def not_published(self, plan: Planned, refused: bool) -> FileOutcome:
        if plan.unchanged:
            return self.unchanged(plan)
        why = (
            ErrorInfo(NEVER_PASSED, "No ckaction-passed run has this content.")
            if refused
            else ErrorInfo("Not published", "Another file of this step never passed a gate.")
        )
        report = Report("error", self.tolerances, Facts(command="publish"), error=why)
        return FileOutcome(
            plan.file.path, plan.file.prompt, "error", report, self.candidate_id(plan)
        )

    @contextmanager
    def anchored(self, plans: tuple[Planned, ...]) -> Iterator[None]:
        """A pending anchor run on every live row without runs that will be PATCHed, for the
        duration; deleted afterwards whatever happened."""
        anchors: list[Run] = []
        try:
            for plan in plans:
                if plan.live is not None and not plan.unchanged and not self.has_runs(plan.live):
                    anchors.append(self.anchor(plan))
            yield
        finally:
            for anchor in anchors:
                self.client.delete_run(anchor.id)

    def has_runs(self, prompt: Prompt) -> bool:
        return any(run.prompt_id == prompt.id for run in self.client.list_runs(prompt_id=prompt.id))

    def anchor(self, plan: Planned) -> Run:
        assert plan.live is not None
        body: dict[str, Any] = {
            "name": ANCHOR_RUN_NAME,
            "prompt_id": plan.live.id,
            "tag_names": [ANCHOR_TAG],
        }
        eval_dataset = plan.file.eval.dataset_id if plan.file.eval else None
        dataset_id = plan.passed.dataset_id if plan.passed else eval_dataset
        if dataset_id is not None:
            body["dataset_id"] = dataset_id
        try:
            run = self.client.create_run(body)
        except UncertainOutcome:
            found = next(
                self.client.list_runs(prompt_id=plan.live.id, **{"tag[]": ANCHOR_TAG}), None
            )
            if found is None or found.prompt_id != plan.live.id:
                raise
            run = found
        self.log.info(
            f"Anchor run {run.id} (pending, never started) keeps version "
            f"{plan.live.version_number} of `{plan.file.prompt}` when it is replaced"
        )
        return run

    # -- writing -----------------------------------------------------------------------------------

    def release(self, plan: Planned) -> FileOutcome:
        if plan.unchanged:
            return self.unchanged(plan)
        prompt = self.update(plan) if plan.live is not None else self.create(plan)
        if not prompt.current:
            prompt = self.client.publish_prompt(prompt.id)
        passed = f"its gate run {plan.passed.id} passed" if plan.passed else "no gate required"
        if plan.live is None:
            done = (
                f"{plan.file.path}: created prompt `{plan.file.prompt}` (id {prompt.id}); {passed}."
            )
        else:
            done = (
                f"{plan.file.path}: published version {prompt.version_number} of "
                f"`{plan.file.prompt}` (id {prompt.id}, replacing version "
                f"{plan.live.version_number}, id {plan.live.id}); {passed}."
            )
        return self.outcome(plan, prompt, "new" if plan.live is None else "passed", done)

    def unchanged(self, plan: Planned) -> FileOutcome:
        live = plan.live
        assert live is not None
        done = (
            f"{plan.file.path}: `{plan.file.prompt}` version {live.version_number} (id {live.id}) "
            "already has this content: nothing to publish."
        )
        if plan.file.description is not None and plan.file.description != live.description:
            done += " Its description differs, but a description alone is never released."
        return self.outcome(plan, live, "unchanged", done)

    def outcome(self, plan: Planned, prompt: Prompt, result: FileResult, done: str) -> FileOutcome:
        self.say(done)
        facts = Facts(
            command="publish",
            prompt_id=prompt.id,
            done=(done,),
            outputs={"prompt-id": str(prompt.id), "version-number": str(prompt.version_number)},
        )
        report = Report("passed", self.tolerances, facts)
        return FileOutcome(
            plan.file.path, plan.file.prompt, result, report, self.candidate_id(plan)
        )

    @staticmethod
    def candidate_id(plan: Planned) -> int | None:
        return plan.candidate.id if plan.candidate else None

    def update(self, plan: Planned) -> Prompt:
        """PATCH the live row; an answer that was lost is read back (the family's current
        content) before the PATCH is sent again."""
        live, content = plan.live, plan.file.content
        assert live is not None
        fields: dict[str, Any] = {"template": content.template, "llm_model": content.llm_model}
        if plan.file.description is not None:
            fields["description"] = plan.file.description
        try:
            return self.client.update_prompt(live.id, **fields)
        except UncertainOutcome:
            now = self.client.get_prompt(quote(live.family_key or str(live.id), safe=""))
            if content_of_prompt(now) == content:
                self.log.info(f"The lost answer's PATCH landed: version {now.version_number}")
                return now
            return self.client.update_prompt(live.id, **fields)

    def create(self, plan: Planned) -> Prompt:
        """A new prompt under its `prompt` name; a create whose answer was lost is looked up
        before it is sent again."""
        file, content = plan.file, plan.file.content
        try:
            return self.client.create_prompt(
                file.prompt, content.template, content.llm_model, description=file.description
            )
        except UncertainOutcome:
            found = find_live(self.client, file.prompt)
            if found is not None and content_of_prompt(found) == content:
                return found
            return self.client.create_prompt(
                file.prompt, content.template, content.llm_model, description=file.description
            )
