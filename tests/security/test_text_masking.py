"""`mask_deep`: a hook payload's secrets are masked in one scan of its JSON text."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from livewatch.security.text_masking import MASK, mask_deep, mask_text

# Each goes through the JSON text escaped (quotes, backslashes, newlines) and must come out
# exactly as masking the string on its own gives it.
TEXTS = [
    "curl -H 'Authorization: Bearer abc123' x",
    '-H "authorization: Basic dXNlcjpw"',
    "push with ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "export GITHUB_TOKEN='ghp_x y'\necho done",
    '{"api_key": "abc def", "n": 1}',
    '{\\"client_secret\\":\\"abc\\"}',
    "postgres://app:pa55w0rd@db:5432/x",
    "password=hunter2; next\ttab",
    "no secrets here, only tokenizer talk",
]


def nested(text: str) -> dict[str, Any]:
    return {"tool_input": {"command": text}, "lines": [text, 3, None], "ok": True}


@pytest.mark.parametrize("text", TEXTS)
def test_a_payload_is_masked_as_each_string_would_be(text: str) -> None:
    assert mask_deep(nested(text)) == nested(mask_text(text))


def test_secret_keys_are_masked_and_the_session_id_is_kept() -> None:
    payload = {"session_id": "4f6a0c1e", "env": {"GITHUB_TOKEN": 42, "HOME": "/root"}}
    assert mask_deep(payload) == {
        "session_id": "4f6a0c1e",
        "env": {"GITHUB_TOKEN": MASK, "HOME": "/root"},
    }


def test_the_payload_itself_is_left_as_it_was() -> None:
    payload = nested("API_KEY=abc123 python run.py")
    before = copy.deepcopy(payload)
    masked = mask_deep(payload)
    assert payload == before
    assert masked["tool_input"]["command"] == f"API_KEY={MASK} python run.py"


def test_where_the_text_scan_would_break_the_json_each_string_is_masked_instead() -> None:
    # `access_key` is no secret name by key, and the text scan would mask the bare number
    # after it into `"access_key":********`, which is not JSON.
    payload = {"access_key": 12345, "command": "API_KEY=abc123 go"}
    assert mask_deep(payload) == {"access_key": 12345, "command": f"API_KEY={MASK} go"}


def test_keys_that_are_not_strings_are_masked_too() -> None:
    assert mask_deep({1: "password=hunter2", "n": 2**70}) == {1: f"password={MASK}", "n": 2**70}
