"""Two jobs gating one commit at once (a pull request opened with a label fires two events; push
and publish workflows overlap): both finish green, with one paid run and one sticky comment.

The two gates run on real threads against one emulator (in process, one fake clock) and the fake
GitHub over HTTP. `Turns` lets exactly one of them run at a time and hands the turn over at every
request either one sends (to CompletionKit or to GitHub), choosing who goes next from a seeded
random generator: each seed is one interleaving of the two jobs' requests, the same on every run.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ckaction.cli import App
from ckaction.emulator import Emulator, seed_demo
from ckaction.emulator.seed import TEMPLATE_V1
from ckaction.emulator.transport import EmulatorTransport
from ckaction.inputs import raw_inputs_from_env
from tests.conftest import RUN_SECONDS, TOKEN, ActionEnv, Emulated, FakeTime
from tests.fakes.github_api import ACTIONS_BOT, FakeGitHub, serve_github
from tests.github.contract import check_exchange
from tests.integration.helpers import BASE_INPUTS, Result, _result

REPO = "acme/prompts"
PR = 12
SHA = "c0ffee" * 6 + "abcd"
TRIALS = 20
JOBS = ("pull_request opened", "pull_request labeled")
FILE_TRIALS = 5
PROMPT_FILE = "prompts/support-reply.yml"
LIVE = "Support reply"  # the seeded live prompt
EDITED = TEMPLATE_V1 + " Thank them for writing."


class Turns:
    """One job runs at a time; at each request the turn goes to a job drawn from a seeded
    generator (possibly the same one), so a seed fixes the whole interleaving."""

    def __init__(self, names: tuple[str, ...], seed: int) -> None:
        self.rng = random.Random(seed)
        self.active = list(names)
        self.current = self.draw()
        self.changed = threading.Condition()

    def draw(self) -> str:
        return self.rng.choice(self.active)

    def wait_for(self, name: str) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.current == name)

    def pass_on(self, name: str) -> None:
        """`name` is about to send a request: draw who goes next and wait for `name`'s turn."""
        with self.changed:
            self.current = self.draw()
            self.changed.notify_all()
        self.wait_for(name)

    def done(self, name: str) -> None:
        with self.changed:
            self.active.remove(name)
            if self.active:
                self.current = self.draw()
            self.changed.notify_all()


class Lockstep(Turns):
    """The jobs take turns request by request: both read before either writes, so both create a
    run and both post a comment, the race the rules must settle."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.order = list(names)
        self.sent = 0
        super().__init__(names, seed=0)

    def draw(self) -> str:
        self.sent += 1
        return self.active[self.sent % len(self.active)] if self.active else self.order[0]


class TurnTransport(EmulatorTransport):
    """The emulator in process, handing the turn over before each request."""

    def __init__(self, emulator: Emulator, turns: Turns, name: str) -> None:
        super().__init__(emulator)
        self.turns, self.name = turns, name

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.turns.pass_on(self.name)
        return super().handle_request(request)


@pytest.fixture
def github():
    fake = FakeGitHub()
    fake.checkers.append(check_exchange)
    with serve_github(fake) as url:
        yield fake, url
    assert fake.violations == []


def github_token(name: str) -> str:
    """Each job's own workflow token (both post as github-actions[bot]); the fake GitHub tells
    the jobs' requests apart by it."""
    return f"ghs_job{JOBS.index(name)}token0123456789abcdef"


def job(
    emulated: Emulated,
    root: Path,
    turns: Turns,
    name: str,
    github_url: str,
    pr: int,
    **extra: str,
) -> Callable[[], Result]:
    env = ActionEnv(root)
    payload = {
        "action": "opened",
        "pull_request": {
            "number": pr,
            "labels": [],
            "head": {"sha": SHA, "repo": {"full_name": REPO}},
            "base": {"repo": {"full_name": REPO}},
        },
    }
    inputs = {
        **BASE_INPUTS,
        "api-url": emulated.url,
        "github-token": github_token(name),
        **(extra or {"prompt-id": str(emulated.ids.prompt_v2_id)}),
    }
    environ = env.environ(
        inputs,
        event="pull_request",
        payload=payload,
        GITHUB_SHA=SHA,
        GITHUB_API_URL=github_url,
        GITHUB_REPOSITORY=REPO,
    )
    prompt_file = env.workspace / PROMPT_FILE
    prompt_file.parent.mkdir(parents=True, exist_ok=True)
    prompt_file.write_text(
        f"prompt: {LIVE}\nllm_model: gpt-4o-mini\ntemplate: |\n  {EDITED}\n", encoding="utf-8"
    )

    def step() -> Result:
        stdout = io.StringIO()
        app = App(
            environ,
            stream=stdout,
            clock=emulated.time.now,
            sleep=emulated.time.sleep,
            transport=TurnTransport(emulated.emulator, turns, name),
        )
        code = app.run(raw_inputs_from_env(environ))
        return _result(env, code, stdout.getvalue(), "")

    return step


def run_together(steps: dict[str, Callable[[], Result]], turns: Turns) -> dict[str, Result]:
    results: dict[str, Result] = {}
    failures: list[BaseException] = []

    def body(name: str) -> None:
        turns.wait_for(name)
        try:
            results[name] = steps[name]()
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            failures.append(exc)
        finally:
            turns.done(name)

    threads = [threading.Thread(target=body, args=(name,), daemon=True) for name in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return results


def fresh_emulator() -> Emulated:
    time = FakeTime()
    emulator = Emulator(token=TOKEN, org="acme", clock=time.now)
    emulator.run_duration = RUN_SECONDS
    emulated = Emulated(emulator, seed_demo(emulator), time)
    emulator.judge.scores.clear()  # the seeded candidate's regressions fixed: a green gate
    return emulated


def both_jobs(
    fake: FakeGitHub, url: str, tmp_path: Path, seed: int, turns: Turns | None = None, **extra: str
) -> tuple[Emulated, int, dict[str, Result]]:
    """The two jobs on one pull request, interleaved by `seed` (or by `turns`): (the emulator,
    the PR, results)."""
    pr = PR + seed
    fake.add_pull(REPO, pr)
    for name in JOBS:
        fake.add_token(github_token(name), ACTIONS_BOT, installation=True)
    emulated = fresh_emulator()
    turns = turns or Turns(JOBS, seed)
    by_token = {github_token(name): name for name in JOBS}

    def hold(headers: dict[str, str]) -> None:
        secret = {k.lower(): v for k, v in headers.items()}["authorization"].partition(" ")[2]
        turns.pass_on(by_token[secret])

    fake.before = hold
    steps = {
        name: job(emulated, tmp_path / str(i), turns, name, url, pr, **extra)
        for i, name in enumerate(JOBS)
    }
    return emulated, pr, run_together(steps, turns)


@pytest.mark.parametrize("seed", range(TRIALS))
def test_two_jobs_on_one_commit_pay_one_run_and_leave_one_comment(seed, tmp_path, github):
    fake, url = github
    emulated, pr, results = both_jobs(fake, url, tmp_path, seed)
    for name, result in results.items():
        assert result.code == 0, f"{name}: {result.stdout}"
    emu = emulated.emulator
    starts = [r for r in emu.requests if r.method == "POST" and r.path.endswith("/generate")]
    assert [r.status for r in starts] == [202]  # one paid run, started once
    runs = emu.list_runs().items
    gate_runs = [r for r in runs if r["name"].startswith("ckaction gate ")]
    assert [r["status"] for r in gate_runs] == ["completed"]  # a losing run was deleted unstarted
    assert {result.outputs["run-id"] for result in results.values()} == {str(gate_runs[0]["id"])}
    comments = fake.comments_on(REPO, pr)
    assert len(comments) == 1
    assert {result.outputs["comment-url"] for result in results.values()} == {
        f"https://github.com/{REPO}/pull/{pr}#issuecomment-{comments[0].id}"
    }


@pytest.mark.parametrize("seed", range(FILE_TRIALS))
def test_two_prompt_files_jobs_share_one_candidate_and_one_paid_run(seed, tmp_path, github):
    fake, url = github
    emulated, pr, results = both_jobs(
        fake, url, tmp_path, seed, **{"prompt-files": "prompts/*.yml"}
    )
    for name, result in results.items():
        assert result.code == 0, f"{name}: {result.stdout}"
    emu = emulated.emulator
    candidates = [p for p in emu.list_prompts({}).items if "ckaction candidate" in p["name"]]
    assert len(candidates) == 1  # a losing duplicate, still without runs, was deleted
    starts = [r for r in emu.requests if r.method == "POST" and r.path.endswith("/generate")]
    assert [r.status for r in starts] == [202]
    (run,) = [r for r in emu.list_runs().items if r["prompt_id"] == candidates[0]["id"]]
    assert run["status"] == "completed"
    assert len(fake.comments_on(REPO, pr)) == 1


def test_in_lockstep_both_jobs_create_and_the_later_run_and_comment_are_deleted(tmp_path, github):
    fake, url = github
    emulated, pr, results = both_jobs(fake, url, tmp_path, 0, Lockstep(JOBS))
    for name, result in results.items():
        assert result.code == 0, f"{name}: {result.stdout}"
    emu = emulated.emulator
    created = [r for r in emu.requests if r.method == "POST" and r.path == "/runs"]
    assert [r.status for r in created] == [201, 201]  # both created: the race happened
    deleted = [r.path for r in emu.requests if r.method == "DELETE"]
    (kept,) = [r for r in emu.list_runs().items if r["name"].startswith("ckaction gate ")]
    assert deleted == [f"/runs/{kept['id'] + 1}"]  # the later one, never started
    assert kept["status"] == "completed"
    posted = [c for c in fake.calls() if c == f"POST /repos/{REPO}/issues/{pr}/comments"]
    assert len(posted) == 2  # both posted: the race happened
    first, second = (
        json.loads(e.response_body)["id"]
        for e in fake.exchanges
        if e.method == "POST" and e.status == 201
    )
    deletes = [(e.path, e.status) for e in fake.exchanges if e.method == "DELETE"]
    duplicate = f"/repos/{REPO}/issues/comments/{second}"
    assert deletes == [(duplicate, 204), (duplicate, 404)]  # both jobs apply the rule; 404 is fine
    (comment,) = fake.comments_on(REPO, pr)
    assert comment.id == first
