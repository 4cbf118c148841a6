"""Regenerate docs/comment.png: the demo's report rendered as GitHub renders a comment.

    python docs/screenshot.py            # needs markdown-it-py and Debian's chromium

Runs `ckaction demo` in-process, renders the Markdown with a GFM renderer (markdown-it-py with
tables, raw HTML allowed as on GitHub) into a page styled like a PR comment, and takes a
screenshot with headless Chromium.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

from ckaction.cli import main as main_cli

HERE = Path(__file__).resolve().parent
SAID = "<details><summary>What the model said"
CSS = """
body { font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
       color: #1f2328; background: #fff; margin: 0; padding: 24px; }
.comment { border: 1px solid #d1d9e0; border-radius: 6px; max-width: 940px; }
.header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px;
          border-radius: 6px 6px 0 0; color: #59636e; }
.body { padding: 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; display: block; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 4px 10px; }
tr:nth-child(2n) { background: #f6f8fa; }
h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: 6px; font-size: 1.4em; }
h3 { font-size: 1.15em; }
code { background: #eff1f3; border-radius: 4px; padding: 1px 4px; }
blockquote { border-left: 4px solid #d1d9e0; margin: 0; padding: 0 12px; color: #59636e; }
sub { color: #59636e; }
"""


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.md"
        with contextlib.redirect_stdout(io.StringIO()):
            main_cli(["demo", "--summary-file", str(summary), "--run-seconds", "0.3"])
        markdown = summary.read_text(encoding="utf-8")
        body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
        # Shown as a reviewer who clicked it: what the model said on the regressed row.
        body = body.replace(SAID, SAID.replace("<details>", "<details open>"))
        page = Path(tmp) / "comment.html"
        page.write_text(
            f"<!doctype html><meta charset=utf-8><style>{CSS}</style>"
            '<div class="comment"><div class="header"><b>github-actions</b> bot commented</div>'
            f'<div class="body">{body}</div></div>',
            encoding="utf-8",
        )
        subprocess.run(  # noqa: S603 - a fixed argv: chromium on a page we wrote
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp}/profile",
                "--hide-scrollbars",
                "--window-size=1000,1040",
                f"--screenshot={HERE / 'comment.png'}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {HERE / 'comment.png'}")


if __name__ == "__main__":
    main()
