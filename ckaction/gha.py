"""The GitHub Actions runner protocol: workflow commands, outputs, the job summary, masks.

Everything the runner parses from our stdout goes through here, escaped, so text that came from the
API or a dataset row can never forge a command (`::error::…`) or break an output. Outside GitHub
(`GITHUB_ACTIONS` unset) the same calls print plain text and outputs go to no file.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ckaction.redact import Redactor

SUMMARY_LIMIT_BYTES = 1024 * 1024
ANNOTATION_CAP = 10


def escape_data(text: str) -> str:
    """Escape a command's message, as @actions/core does (`%` first)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value (`title=…`): also `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def neutralize(text: str) -> str:
    """Make untrusted text safe to print as a log line: no line can start a workflow command
    (`::name::`), and no `##[name]` legacy command, which the runner finds anywhere in a line."""
    lines = text.replace("\r", "").split("\n")
    safe = (("\u200b" + line) if line.lstrip().startswith("::") else line for line in lines)
    return "\n".join(line.replace("##[", "##\u200b[") for line in safe)


class Runner:
    """Talks to the runner through stdout and the file commands named in the environment."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        redact: Redactor,
        stream: TextIO | None = None,
    ) -> None:
        self.on_github = environ.get("GITHUB_ACTIONS") == "true"
        self.debug_enabled = environ.get("RUNNER_DEBUG") == "1"
        self._output_path = environ.get("GITHUB_OUTPUT") or None
        self._summary_path = environ.get("GITHUB_STEP_SUMMARY") or None
        self._redact = redact
        self.redact = redact
        self._stream = stream if stream is not None else sys.stdout
        self._reader_gone = False
        self._annotations: dict[str, int] = {"error": 0, "warning": 0, "notice": 0}
        self.outputs: dict[str, str] = {}

    # -- commands --------------------------------------------------------------------------------

    def _command(
        self, name: str, message: str, properties: Mapping[str, str] | None = None
    ) -> None:
        props = ""
        if properties:
            props = " " + ",".join(
                f"{key}={escape_property(self._redact(value))}" for key, value in properties.items()
            )
        self._write(f"::{name}{props}::{escape_data(self._redact(message))}")

    def _write(self, line: str) -> None:
        """One line to the log. A reader that went away (`ckaction … | head`) ends the log, not
        the step: the verdict, its files and its exit code do not depend on being read."""
        if self._reader_gone:
            return
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone = True
            if self._stream is sys.stdout:  # nor a second error when Python flushes it at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def mask(self, value: str) -> None:
        """Ask the runner to mask a secret in its log; also redact it from everything we write."""
        if not value.strip():
            return
        self._redact.add(value)
        if self.on_github:
            for line in value.splitlines():
                if line.strip():
                    self._write(f"::add-mask::{escape_data(line)}")

    def info(self, text: str) -> None:
        """A plain log line; untrusted text cannot start a workflow command."""
        self._write(neutralize(self._redact(text)))

    def debug(self, text: str) -> None:
        if self.on_github:
            self._command("debug", text)
        elif self.debug_enabled:
            self.info(f"debug: {text}")

    def annotate(self, level: str, message: str, *, title: str = "") -> bool:
        """An error/warning/notice annotation; returns False once the runner's per-step cap is hit."""
        if self._annotations[level] >= ANNOTATION_CAP:
            self.info(f"{level}: {title + ': ' if title else ''}{message}")
            return False
        self._annotations[level] += 1
        if self.on_github:
            self._command(level, message, {"title": title} if title else None)
        else:
            self.info(f"{level}: {title + ': ' if title else ''}{message}")
        return True

    def error(self, message: str, *, title: str = "") -> bool:
        return self.annotate("error", message, title=title)

    def warning(self, message: str, *, title: str = "") -> bool:
        return self.annotate("warning", message, title=title)

    def notice(self, message: str, *, title: str = "") -> bool:
        return self.annotate("notice", message, title=title)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.on_github:
            self._write(f"::group::{escape_data(self._redact(title))}")
        else:
            self.info(f"== {title}")
        try:
            yield
        finally:
            if self.on_github:
                self._write("::endgroup::")

    @contextmanager
    def stop_commands(self) -> Iterator[None]:
        """Pause command parsing while echoing untrusted text (a random token ends the pause)."""
        token = secrets.token_hex(16)
        if self.on_github:
            self._write(f"::stop-commands::{token}")
        try:
            yield
        finally:
            if self.on_github:
                self._write(f"::{token}::")

    # -- file commands ---------------------------------------------------------------------------

    def set_output(self, name: str, value: str) -> None:
        value = self._redact(value)
        self.outputs[name] = value
        if not self._output_path:
            return
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter in name or delimiter in value:  # pragma: no cover - 128 random bits
            raise ValueError("output collides with its delimiter")
        with open(self._output_path, "a", encoding="utf-8") as handle:
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def append_summary(self, markdown: str) -> bool:
        """Append to the job summary; refuses (returns False) what would pass the 1 MiB cap."""
        markdown = self._redact(markdown)
        if not self._summary_path:
            return False
        path = Path(self._summary_path)
        used = path.stat().st_size if path.exists() else 0
        data = (markdown if markdown.endswith("\n") else markdown + "\n").encode("utf-8")
        if used + len(data) > SUMMARY_LIMIT_BYTES:
            self.warning(
                "The job summary would exceed GitHub's 1 MiB limit; it was not written. "
                "The full comparison is in the JSON report.",
                title="Summary too large",
            )
            return False
        with path.open("ab") as handle:
            handle.write(data)
        return True
