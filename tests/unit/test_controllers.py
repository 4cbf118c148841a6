"""The engine's controllers, as its rate limit keys them (shared/completionkit-api.md §15)."""

from __future__ import annotations

import httpx
import pytest

from ckaction.budget import BURST, RequestBudget
from ckaction.controllers import controller_of
from ckaction.emulator import Emulator


@pytest.mark.parametrize(
    ("path", "controller"),
    [
        ("/runs", "runs"),
        ("/runs/7", "runs"),
        ("/runs/7/generate", "runs"),
        ("/runs/7/compare?with=8", "runs"),
        ("/runs/7/responses", "responses"),
        ("/runs/7/responses/3", "responses"),
        ("/prompts/support-reply", "prompts"),
        ("/prompts/runs", "prompts"),  # a prompt named like a resource
        ("/metrics/2", "metrics"),
        ("/", ""),
    ],
)
def test_each_path_belongs_to_one_controller(path, controller):
    assert controller_of(path) == controller


def test_the_emulator_limits_each_controller_on_its_own():
    emu = Emulator(token="ck-test-token-controllers", org="acme", clock=lambda: 0.0)
    emu.rate_limit = 2
    assert [emu.admit("1.2.3.4", "runs") for _ in range(3)] == [True, True, False]
    assert emu.admit("1.2.3.4", "prompts") and emu.admit("5.6.7.8", "runs")


def test_the_budget_keeps_one_bucket_per_controller():
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = RequestBudget(lambda: now[0], sleep, root_path="/orgs/acme/api/v1")
    root = "https://ck.test/orgs/acme/api/v1"
    for _ in range(BURST):
        budget.spend(httpx.Request("GET", f"{root}/runs/1"))
    budget.spend(httpx.Request("GET", f"{root}/prompts/1"))  # another controller: no wait
    assert slept == []
    budget.spend(httpx.Request("GET", f"{root}/runs/1"))  # this controller's bucket is empty
    assert slept and slept[0] > 0
