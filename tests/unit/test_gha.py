import io

from ckaction.gha import Runner, escape_data, escape_property, neutralize
from ckaction.redact import Redactor


def make_runner(tmp_path, **extra):
    out = tmp_path / "out.txt"
    summary = tmp_path / "summary.md"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(summary),
        **extra,
    }
    stream = io.StringIO()
    return Runner(env, redact=Redactor(), stream=stream), stream, out, summary


def test_escaping_matches_actions_core():
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_untrusted_text_cannot_forge_a_command():
    text = "fine\n::error::forged\n  ::set-output name=x::y"
    safe = neutralize(text)
    assert all(not line.lstrip().startswith("::") for line in safe.splitlines())


def test_annotation_is_one_line_with_escaped_title(tmp_path):
    runner, stream, *_ = make_runner(tmp_path)
    runner.error("line one\nline two", title="Bad: thing, really")
    assert stream.getvalue() == "::error title=Bad%3A thing%2C really::line one%0Aline two\n"


def test_annotations_stop_at_the_runner_cap(tmp_path):
    runner, stream, *_ = make_runner(tmp_path)
    results = [runner.error(f"e{i}") for i in range(12)]
    assert results == [True] * 10 + [False, False]
    assert stream.getvalue().count("::error") == 10


def test_mask_is_printed_and_secret_redacted_everywhere(tmp_path):
    runner, stream, out, summary = make_runner(tmp_path)
    runner.mask("ck-very-secret")
    runner.info("token is ck-very-secret")
    runner.set_output("x", "ck-very-secret")
    runner.append_summary("# ck-very-secret")
    log = stream.getvalue()
    assert log.startswith("::add-mask::ck-very-secret\n")
    assert "token is ***" in log
    assert "ck-very-secret" not in out.read_text()
    assert "ck-very-secret" not in summary.read_text()


def test_outputs_use_heredoc_with_random_delimiter(tmp_path):
    runner, _, out, _ = make_runner(tmp_path)
    runner.set_output("result", "multi\nline")
    text = out.read_text()
    name, rest = text.split("<<", 1)
    delimiter = rest.split("\n", 1)[0]
    assert name == "result"
    assert delimiter.startswith("ghadelimiter_")
    assert text == f"result<<{delimiter}\nmulti\nline\n{delimiter}\n"


def test_summary_refuses_to_pass_one_mebibyte(tmp_path):
    runner, stream, _, summary = make_runner(tmp_path)
    assert runner.append_summary("a" * 1000)
    assert not runner.append_summary("b" * (1024 * 1024))
    assert summary.stat().st_size == 1001
    assert "::warning title=Summary too large::" in stream.getvalue()


def test_group_and_stop_commands(tmp_path):
    runner, stream, *_ = make_runner(tmp_path)
    with runner.group("Waiting"), runner.stop_commands():
        runner.info("::error::from a row")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "::group::Waiting"
    token = lines[1].removeprefix("::stop-commands::")
    assert len(token) == 32
    assert lines[3] == f"::{token}::"
    assert lines[4] == "::endgroup::"
    assert not lines[2].startswith("::")


def test_off_github_prints_plain_text(tmp_path):
    stream = io.StringIO()
    runner = Runner({}, redact=Redactor(), stream=stream)
    runner.error("boom", title="T")
    runner.set_output("a", "b")
    assert stream.getvalue() == "error: T: boom\n"
    assert runner.outputs == {"a": "b"}


def test_legacy_hash_bracket_commands_are_neutralised_anywhere_in_a_line():
    safe = neutralize("Baseline: run 3 (##[error title=Security]Token leaked)")
    assert "##[" not in safe
    assert "##\u200b[error" in safe


def test_a_reader_that_went_away_ends_the_log_not_the_step(tmp_path):
    class ClosedPipe(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            ClosedPipe.writes += 1
            raise BrokenPipeError(32, "Broken pipe")

    output = tmp_path / "output"
    runner = Runner({"GITHUB_OUTPUT": str(output)}, redact=Redactor(), stream=ClosedPipe())
    runner.info("first line")  # `ckaction … | head` closed the pipe: no traceback
    runner.info("second line")
    runner.set_output("result", "passed")
    assert ClosedPipe.writes == 1  # the log ended at the first failed write
    assert "result<<" in output.read_text() and "passed" in output.read_text()
