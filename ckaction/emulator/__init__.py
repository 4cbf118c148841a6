"""A faithful, stateful emulator of CompletionKit's REST API v1, over real HTTP or in process.

    emu = Emulator(token="ck-test-token", org="acme")
    with serve(emu) as server:
        httpx.get(server.url + "/runs", headers={"Authorization": "Bearer ck-test-token"})
    httpx.Client(transport=EmulatorTransport(emu), base_url="http://emulator.test")

See `state.Emulator` for the knobs (clock, sleep, run_duration, start_delay, rate_limit, judge, ...).
Not in the action's Docker image: the image runs the gate only.
"""

from ckaction.emulator.faults import Fault, RequestRecord
from ckaction.emulator.judging import (
    GenerationError,
    JudgeCall,
    NoisyJudge,
    ScriptedJudge,
    Verdict,
    default_generator,
    default_judge,
    render_template,
)
from ckaction.emulator.records import ApiError, Page
from ckaction.emulator.seed import DemoIds, seed_demo
from ckaction.emulator.server import EmulatorServer, serve
from ckaction.emulator.state import Emulator
from ckaction.emulator.transport import EmulatorTransport

__all__ = [
    "ApiError",
    "DemoIds",
    "Emulator",
    "EmulatorServer",
    "EmulatorTransport",
    "Fault",
    "GenerationError",
    "JudgeCall",
    "NoisyJudge",
    "Page",
    "RequestRecord",
    "ScriptedJudge",
    "Verdict",
    "default_generator",
    "default_judge",
    "render_template",
    "seed_demo",
    "serve",
]
