"""Startup: what a gate pays before it does anything.

    python bench/startup.py            # 20 runs of `ckaction --version`, imports, install into a fresh venv
    python bench/startup.py --quick    # 5 runs, no install timing

* `ckaction --version`: median wall time of N subprocess runs (next to `python -c pass`, the
  interpreter's floor, and `python -c "import ckaction.cli"`);
* which heavy modules `--version` loads (PyGithub `github`, `jinja2`, `httpx`, `pydantic`), read
  from sys.modules at exit, and the slowest imports by `python -X importtime`;
* the composite action's cost: `pip wheel <repo> -w wheels/` (needs the package index, timed but not
  the point), then the time of `pip install --no-index --find-links wheels ckaction` into a fresh
  venv. The build runs on a copy of the sources so the work tree stays clean.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, child_env, ckaction_command, machine

HEAVY = ("github", "jinja2", "httpx", "pydantic", "yaml", "tenacity", "ckaction.emulator")
PROBE = """
import atexit, sys
heavy = {heavy!r}
def report():
    loaded = [m for m in heavy if m in sys.modules]
    sys.stderr.write("HEAVY " + ",".join(loaded) + "\\n")
atexit.register(report)
sys.argv = ["ckaction", "--version"]
from ckaction.cli import main
main()
"""


def timed(command: list[str], runs: int) -> list[float]:
    times = []
    env = child_env()
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - started)
    return times


def heavy_modules() -> tuple[list[str], list[tuple[float, str]]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE.format(heavy=HEAVY)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    loaded: list[str] = []
    slow: list[tuple[float, str]] = []
    for line in proc.stderr.splitlines():
        if line.startswith("HEAVY "):
            loaded = [m for m in line[6:].split(",") if m]
        elif line.startswith("import time:") and "|" in line:
            parts = [p.strip() for p in line[len("import time:") :].split("|")]
            if parts[1].isdigit():
                slow.append((int(parts[1]) / 1e6, parts[2]))
    top_level = sorted((s for s in slow if not s[1].startswith(" ")), reverse=True)
    return loaded, top_level[:8]


def install_time(work: Path) -> dict[str, float]:
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "requirements.txt", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "ckaction", src / "ckaction", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = work / "wheels"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", str(src), "-w", str(wheels)],
        check=True,
        timeout=600,
        cwd=work,
    )
    built = time.perf_counter()
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    made = time.perf_counter()
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--isolated",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "ckaction",
        ],
        check=True,
        timeout=600,
        cwd=work,
    )
    installed = time.perf_counter()
    version = subprocess.run(
        [str(venv / "bin" / "ckaction"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return {
        "pip_wheel_s": built - started,
        "venv_s": made - built,
        "pip_install_s": installed - made,
        "wheels": len(list(wheels.glob("*.whl"))),
        "installed_version": version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 runs, skip the install timing")
    parser.add_argument(
        "--runs", type=int, default=None, help="subprocess runs per timing (default 20)"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 20)
    print(f"machine: {machine()}")
    results: dict[str, object] = {}
    for label, command in (
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import ckaction.cli'", [sys.executable, "-c", "import ckaction.cli"]),
        ("ckaction --version", [*ckaction_command(), "--version"]),
    ):
        times = timed(command, runs)
        results[label] = {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "max_s": max(times),
        }
        print(
            f"  {label:<34} median {statistics.median(times) * 1000:6.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={runs})"
        )
    loaded, slow = heavy_modules()
    results["heavy_loaded_by_version"] = loaded
    results["slowest_imports"] = slow
    print(f"  heavy modules loaded by --version: {', '.join(loaded) or 'none'}")
    for cumulative, module in slow:
        print(f"    {cumulative * 1000:6.1f} ms cumulative  {module}")
    lazy_ok = "github" not in loaded and "jinja2" not in loaded
    version_ms = results["ckaction --version"]["median_s"] * 1000  # type: ignore[index]
    print(
        f"  target `ckaction --version` < 300 ms: {'yes' if version_ms < 300 else 'NO'} ({version_ms:.0f} ms)"
    )
    print(f"  target PyGithub and jinja2 not loaded by --version: {'yes' if lazy_ok else 'NO'}")
    if not args.quick:
        with tempfile.TemporaryDirectory(prefix="ck-startup-") as tmp:
            timing = install_time(Path(tmp))
        results["install"] = timing
        print(
            f"  pip wheel: {timing['pip_wheel_s']:.1f} s ({timing['wheels']} wheels); fresh venv: "
            f"{timing['venv_s']:.1f} s; pip install --no-index from wheels: {timing['pip_install_s']:.1f} s "
            f"({timing['installed_version']})"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
