"""Regenerate schema/prompt.schema.json from the prompt file model, so the two never differ.

    python schema/generate.py

tests/unit/test_promptfile.py fails when the committed schema differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: the package next to this script
from ckaction.promptfile import prompt_json_schema  # noqa: E402

SCHEMA = ROOT / "schema" / "prompt.schema.json"

if __name__ == "__main__":
    SCHEMA.write_text(prompt_json_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA.relative_to(ROOT)}")
