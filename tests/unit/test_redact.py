"""The redactor knows every spelling of a secret a server or one of our writers can produce."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from ckaction.markdown import ZWSP, md_text
from ckaction.redact import MIN_SECRET_LENGTH, REDACTED, Redactor, base64_forms

SECRET = 'ck_live"q\\uoted/+?é-0123456789'


@pytest.mark.parametrize(
    "spelled",
    [
        SECRET,
        json.dumps(SECRET),
        json.dumps(SECRET, ensure_ascii=False),
        repr(SECRET),
        quote(SECRET),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        md_text(SECRET),
        md_text(f"authorization-token-value={SECRET}"),  # a zero-width space goes into the word
    ],
)
def test_every_spelling_is_redacted(spelled):
    redacted = Redactor([SECRET])(f"said: {spelled}.")
    assert redacted.count(REDACTED) == 1, redacted
    assert "0123456789" not in redacted


def test_the_markdown_form_of_a_long_word_holds_a_zero_width_space():
    assert ZWSP in md_text(f"authorization-token-value={SECRET}")


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"Bearer "])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_is_redacted_at_every_byte_offset(prefix, encode):
    secret = "ck-live-\xff?>~-0123456789"  # bytes whose encodings differ between the alphabets
    encoded = encode(prefix + secret.encode() + b"tail").decode()
    redacted = Redactor([secret])(encoded)
    assert REDACTED in redacted
    # What is left is at most the characters shared with the bytes around the secret.
    assert len(redacted) - len(REDACTED) <= len(encode(prefix).decode()) + 8


def test_the_stable_inner_base64_does_not_depend_on_the_bytes_around():
    forms = base64_forms(b"0123456789")
    for before in (b"", b"\x00", b"\xff\xff"):
        encoded = base64.b64encode(before + b"0123456789" + b"\xff").decode()
        assert any(form in encoded for form in forms)


def test_the_tree_is_redacted_before_it_is_serialised():
    redact = Redactor([SECRET])
    data = {"details": {SECRET: [SECRET, 3, None]}, "n": 1.5}
    assert redact.tree(data) == {"details": {REDACTED: [REDACTED, 3, None]}, "n": 1.5}
    text = json.dumps(redact.tree(data))
    assert json.dumps(SECRET)[1:-1] not in text


def test_redacting_before_cutting_leaves_no_first_characters():
    text = "x" * 20 + SECRET
    assert Redactor([SECRET])(text)[:25] == "x" * 20 + REDACTED


def test_values_too_short_to_redact_safely_are_not_registered():
    redact = Redactor(["true", "x" * (MIN_SECRET_LENGTH - 1)])
    assert redact("true or false") == "true or false"
