"""Where the emulator is left out (the action's Docker image), `ckaction demo` says so in one line."""

from __future__ import annotations

import subprocess
import sys

from ckaction.demo import NO_EMULATOR

# sys.modules[name] = None makes `import name` raise ModuleNotFoundError, as a missing folder does.
WITHOUT_EMULATOR = """
import sys
sys.modules["ckaction.emulator"] = None
from ckaction.cli import main
sys.exit(main(["demo"]))
"""


def test_demo_without_the_emulator_exits_2_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EMULATOR],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [NO_EMULATOR]
    assert "pip install ckaction" in NO_EMULATOR


def test_nothing_the_image_runs_imports_the_emulator() -> None:
    """Every module of the package but the emulator and the demo imports without the emulator."""
    probe = """
import importlib, pkgutil, sys
sys.modules["ckaction.emulator"] = None
import ckaction
skipped = {"ckaction.demo", "ckaction.__main__"}  # the demo; `python -m ckaction` runs it
names = [m.name for m in pkgutil.walk_packages(ckaction.__path__, "ckaction.")
         if not m.name.startswith("ckaction.emulator")]
for name in names:
    if name not in skipped:
        importlib.import_module(name)
print(len(names))
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 10
