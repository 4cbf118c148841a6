"""Start-up as a user waits for it: from the step's start to the gate's first request.

    python bench/first_request.py --runs 3 --json bench/results/first_request.json

Three ways a workflow can start the gate, each timed from "the step starts" to "the emulator
(served on 127.0.0.1) receives the gate's first request", then the gate runs to its end:

* **prebuilt**: what `image: docker://ghcr.io/ckaction/ckaction:<version>` costs: the image is
  not on the machine (a fresh runner), so it is loaded from an exported archive (`podman save`,
  standing in for a pull from a registry: none is reachable here) and started as the runner
  starts a Docker action;
* **build**: what `image: Dockerfile` cost on every run: `podman build --no-cache` (a fresh
  runner has no layer cache; the base image is already local here, as a runner's would be after
  its pull) and then the same start;
* **composite**: `composite/action.yml`'s steps: a venv, `pip install --require-hashes -r
  requirements.lock` from PyPI with no pip cache (a fresh runner), the package with `--no-deps`,
  then `python -P entrypoint.py`.

Needs podman set up by .ci/container.sh (its base image and configuration) and the package
index. The figures depend on this machine's disk and network: compare the rows, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, TOKEN, machine

from ckaction import __version__
from ckaction.emulator import Emulator, seed_demo, serve

IMAGE = f"localhost/ckaction-bench:{__version__}"
POLL_SECONDS = 0.005  # how often the watcher looks for the first request
STEP_TIMEOUT_SECONDS = 900


def podman_env() -> dict[str, str]:
    described = subprocess.run(
        [str(ROOT / ".ci" / "container.sh"), "env"], capture_output=True, text=True, check=True
    )
    values = dict(line.split("=", 1) for line in described.stdout.splitlines() if "=" in line)
    if values["ENGINE"] != "podman":
        raise SystemExit("this bench drives podman (as .ci/container.sh does here)")
    return {**os.environ, **{k: v for k, v in values.items() if k not in ("ENGINE", "IMAGE")}}


def gate_inputs(api_url: str, candidate: int, *, hyphens: bool) -> dict[str, str]:
    """The gate's inputs as the runner passes them: INPUT_API-URL to a Docker action (hyphens
    kept), INPUT_API_URL from the composite's `env:`."""
    inputs = {
        "api-token": TOKEN,
        "api-url": api_url,
        "prompt-id": str(candidate),
        "comment": "false",
        "reuse-runs": "false",
        "timeout-minutes": "5",
    }
    return {
        f"INPUT_{(name if hyphens else name.replace('-', '_')).upper()}": value
        for name, value in inputs.items()
    }


def time_to_first_request(emulator: Emulator, step: Callable[[], None]) -> tuple[float, float]:
    """Seconds from the step's start to the first request the emulator receives, and to the
    step's end."""
    seen: list[float] = []
    done = threading.Event()
    before = len(emulator.requests)

    def watch() -> None:
        while not done.is_set():
            if len(emulator.requests) > before:
                seen.append(time.perf_counter())
                return
            time.sleep(POLL_SECONDS)

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    step()
    ended = time.perf_counter()
    done.set()
    watcher.join()
    if not seen:
        raise SystemExit("the step ended without a request to the emulator")
    return seen[0] - started, ended - started


def run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    proc = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT_SECONDS
    )
    if proc.returncode not in (0, 1):  # 1: the candidate regresses, as the demo's v2 does
        raise SystemExit(f"{command[:3]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def docker_action_run(inputs: dict[str, str], workspace: Path) -> list[str]:
    """`podman run` as the runner runs a Docker action (the parts that cost time)."""
    flags = [f"--env={name}={value}" for name, value in inputs.items()]
    return [
        "podman", "run", "--rm", "--network=host", "--workdir", "/github/workspace",
        "-v", f"{workspace}:/github/workspace", *flags, IMAGE,
    ]  # fmt: skip


def prebuilt(env: dict[str, str], archive: Path, docker_run: list[str]) -> None:
    run(["podman", "load", "-q", "-i", str(archive)], env)
    run(docker_run, env)


def build(env: dict[str, str], docker_run: list[str]) -> None:
    run(
        ["podman", "build", "-q", "--no-cache", "--pull=never", "--network=host",
         "-t", IMAGE, str(ROOT)],
        env,
    )  # fmt: skip
    run(docker_run, env)


def composite(pip_env: dict[str, str], venv: Path, inputs: dict[str, str], workspace: Path) -> None:
    python = venv / "bin" / "python"
    quiet = ["--quiet", "--disable-pip-version-check"]
    run([sys.executable, "-m", "venv", str(venv)], pip_env)
    run([str(python), "-m", "pip", "install", *quiet, "--require-hashes",
         "-r", str(ROOT / "requirements.lock")], pip_env)  # fmt: skip
    run([str(python), "-m", "pip", "install", *quiet, "--no-deps", str(ROOT)], pip_env)
    run(
        [str(python), "-P", str(ROOT / "entrypoint.py")],
        {**pip_env, **inputs, "GITHUB_WORKSPACE": str(workspace)},
        cwd=workspace,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env = podman_env()
    pip_env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        pip_env.pop(name, None)  # as on a fresh runner: PyPI only, no local wheels
    results: dict[str, list[tuple[float, float]]] = {"prebuilt": [], "build": [], "composite": []}

    with tempfile.TemporaryDirectory(prefix="ck-first-request-") as scratch:
        tmp = Path(scratch)
        archive = tmp / "image.tar"
        subprocess.run(
            ["podman", "build", "-q", "--pull=never", "--network=host", "-t", IMAGE, str(ROOT)],
            env=env, check=True, capture_output=True, timeout=STEP_TIMEOUT_SECONDS,
        )  # fmt: skip
        subprocess.run(["podman", "save", "-o", str(archive), IMAGE], env=env, check=True)
        archive_mb = archive.stat().st_size / 2**20
        for attempt in range(args.runs):
            emulator = Emulator(token=TOKEN, org="bench")
            emulator.run_duration = 0.5
            ids = seed_demo(emulator)
            with serve(emulator) as server:
                workspace = tmp / f"ws{attempt}"
                workspace.mkdir()
                docker_inputs = gate_inputs(server.url, ids.prompt_v2_id, hyphens=True)
                composite_inputs = gate_inputs(server.url, ids.prompt_v2_id, hyphens=False)

                docker_run = docker_action_run(docker_inputs, workspace)
                subprocess.run(["podman", "rmi", "-f", IMAGE], env=env, capture_output=True)
                results["prebuilt"].append(
                    time_to_first_request(emulator, partial(prebuilt, env, archive, docker_run))
                )
                subprocess.run(["podman", "rmi", "-f", IMAGE], env=env, capture_output=True)
                results["build"].append(
                    time_to_first_request(emulator, partial(build, env, docker_run))
                )
                composite_run = partial(
                    composite, pip_env, tmp / f"venv{attempt}", composite_inputs, workspace
                )
                results["composite"].append(time_to_first_request(emulator, composite_run))
            print(f"run {attempt + 1}: " + ", ".join(
                f"{name} {pairs[-1][0]:.1f} s" for name, pairs in results.items()
            ), flush=True)  # fmt: skip

    lines = [
        f"machine: {machine()}",
        f"image archive: {archive_mb:.0f} MiB (debootstrap stand-in base; python:3.12-slim is smaller)",
        f"{'way':<10} {'to first request (median, min-max)':>38} {'to the end (median)':>22}",
    ]
    for name, pairs in results.items():
        first = [p[0] for p in pairs]
        end = [p[1] for p in pairs]
        lines.append(
            f"{name:<10} {statistics.median(first):>17.1f} s ({min(first):.1f}-{max(first):.1f})"
            f"{statistics.median(end):>20.1f} s"
        )
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "archive_mib": archive_mb}, indent=2))


if __name__ == "__main__":
    main()
