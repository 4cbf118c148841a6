"""`python -m ckaction.emulator --help` documents every flag and the demo data a workflow needs; a busy
port is one line, no traceback."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import httpx

from ckaction.emulator import Emulator, seed_demo, serve
from ckaction.emulator.__main__ import DEMO_TOKEN, EXIT_CANNOT_LISTEN, main, parser


def help_text() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ckaction.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def field(text: str, name: str) -> str:
    match = re.search(rf"^  {name} +(.+)$", text, re.MULTILINE)
    assert match, f"{name} missing from:\n{text}"
    return match.group(1)


def test_help_documents_every_flag() -> None:
    text = help_text()
    flags = [a.option_strings[-1] for a in parser()._actions if a.option_strings]
    assert len(flags) == 8
    for action in parser()._actions:
        assert action.help, action.option_strings
    for flag in flags:
        assert flag in text


def test_help_gives_the_token_and_the_ids_a_served_demo_has() -> None:
    text = help_text()
    assert field(text, "api-token").split()[0] == DEMO_TOKEN
    candidate = int(field(text, "prompt-id").split()[0])
    v1, v2 = (int(n) for n in re.findall(r"(\d+) \(v\d", field(text, "prompts")))
    dataset = int(field(text, "dataset").split()[0])
    metrics = [int(n) for n in re.findall(r"(\d+) [A-Z]", field(text, "metrics"))]
    baseline = int(field(text, "runs").split()[0])

    emulator = Emulator(token=DEMO_TOKEN, org="demo")
    seed_demo(emulator)
    assert field(text, "api-url") == f"http://127.0.0.1:8787{emulator.api_root_path}"
    with (
        serve(emulator) as server,
        httpx.Client(
            base_url=server.url + "/",
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
            verify=False,
        ) as client,
    ):
        assert candidate == v2
        assert client.get(f"prompts/{v1}").json()["current"] is True
        assert client.get(f"prompts/{v2}").json()["current"] is False
        assert len(client.get(f"datasets/{dataset}").json()["csv_data"].splitlines()) == 11
        assert [client.get(f"metrics/{m}").json()["id"] for m in metrics] == metrics
        assert len(metrics) == 3
        run = client.get(f"runs/{baseline}").json()
        assert (run["status"], run["prompt_id"], run["dataset_id"]) == ("completed", v1, dataset)
        assert run["metric_ids"] == metrics


def test_a_busy_port_is_said_in_one_line_without_a_traceback(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--port", str(port)])
    out, err = capsys.readouterr()
    assert code == EXIT_CANNOT_LISTEN
    assert out == ""
    assert err.count("\n") == 1, err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "--port 0" in err
