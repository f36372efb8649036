"""Mask secrets inside free text: commands, tool output, raw JSON lines.

`secrets.mask_secrets` masks values by their key in parsed data; agent transcripts are text, so
here secrets are found by shape: auth headers, well-known key formats, URL passwords, and
`name=value` / `name: value` / `"name": "value"` assignments whose name ends in password, token,
secret or api/access/private key. It over-masks rather than under-masks.

It runs on every event (whole raw lines up to 1 MiB), so it avoids scanning with one big
alternation, which Python's `re` tries at nearly every character: instead `str.find` (C speed)
looks for a few literal triggers and a small anchored pattern reads the secret at each hit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from livewatch.security.secrets import mask_secrets

__all__ = ["MASK", "mask_text"]

MASK = "********"

# The keyword must END the name (`GITHUB_TOKEN`, `x-api-key`, `clientSecret`), so usage counters
# like `input_tokens` or `apiKeySource` are left alone. Matched on lowercased text.
_ASSIGNED = re.compile(
    r"""
    (?:authorization|passw(?:or)?d|passphrase|token|secret|(?:api|access|private)[_-]?key)
    (?![\w-])
    \\*["']?[ \t]*[:=][ \t]*                     # `=`, `: `, or `": ` after a quoted JSON key
    (?:(?P<dq>\\*")|(?P<sq>\\*'))?              # an opening quote, maybe JSON-escaped
    (?:(?:bearer|basic|token|digest)[ \t]+)?     # an Authorization scheme stays readable
    (?P<value>(?(dq)(?:[^"\\\r\n]|\\(?!\\*")[^\r\n])+  # "...": to the closing (escaped) quote
              |(?(sq)[^'\r\n]+                   # '...': up to the closing quote
              |[^\s"'\\&;,{}\[\]]+)))            # bare: up to a space, quote or separator
    """,
    re.VERBOSE,
)
_KEY_SHAPES = re.compile(
    r"""
    (?<!\w)(?P<value>
        sk-(?:ant-)?[a-z0-9_-]{20,}             # OpenAI / Anthropic keys
      | gh[pousr]_[a-z0-9]{20,}                 # GitHub tokens
      | github_pat_[a-z0-9_]{20,}
      | xox[abposr]-[a-z0-9-]{10,}              # Slack tokens
      | eyj[\w-]{10,}\.[\w-]{10,}\.[\w-]+       # JWTs
    )
    """,
    re.VERBOSE,
)
_AWS_KEY_ID = re.compile(r"(?<!\w)(?P<value>(?:AKIA|ASIA)[0-9A-Z]{16})(?!\w)")  # case matters
_BEARER = re.compile(r"(?<!\w)bearer[ \t]+(?P<value>[\w.~+/=-]{16,})")  # outside a header
_URL_PASSWORD = re.compile(r"""://[^/\s:@"']+:(?P<value>[^/\s@"']+)@""")

# (literal to find in the lowercased text, pattern matched where it was found, on original case)
_TRIGGERS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    *((word, _ASSIGNED, False) for word in ("authorization", "passw", "passphrase", "token")),
    *((word, _ASSIGNED, False) for word in ("secret", "api", "access", "private")),
    *((prefix, _KEY_SHAPES, False) for prefix in ("sk-", "github_pat_", "xox", "eyj")),
    *((prefix, _KEY_SHAPES, False) for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    ("akia", _AWS_KEY_ID, True),
    ("asia", _AWS_KEY_ID, True),
    ("bearer", _BEARER, False),
    ("://", _URL_PASSWORD, False),
)
# Bare JSON literals are not secrets, and masking them would turn valid JSON into invalid.
_LITERALS = frozenset({"null", "true", "false"})
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def mask_text(text: str) -> str:
    """`text` with every secret it seems to hold replaced by `********`."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters grow when lowercased
        lowered = text.translate(_ASCII_LOWER)
    spans = sorted(_secret_spans(text, lowered))
    if not spans:
        return text
    parts: list[str] = []
    done = 0  # text[:done] is already in `parts`
    for start, end in spans:
        if start < done:  # overlaps the last mask (e.g. a key inside an Authorization header)
            done = max(done, end)
            continue
        parts += (text[done:start], MASK)
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _secret_spans(text: str, lowered: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every secret value; spans may overlap."""
    for literal, pattern, keep_case in _TRIGGERS:
        at = lowered.find(literal)
        while at >= 0:
            match = pattern.match(text if keep_case else lowered, at)
            next_at = at + 1
            if match is not None and not _is_json_literal(match):
                yield match.span("value")
                # Resume after the secret: `token=token=token=...` must stay linear.
                next_at = max(next_at, match.end())
            at = lowered.find(literal, next_at)


def _is_json_literal(match: re.Match[str]) -> bool:
    return (
        match.re is _ASSIGNED
        and match.group("value") in _LITERALS
        and not (match.group("dq") or match.group("sq"))
    )


# Ids that look like secrets by name but are what hook events are grouped by.
IDENTITY_KEYS = frozenset({"session_id"})


def mask_deep(value: Any) -> Any:
    """A copy of a parsed payload: secret-looking keys masked, and secrets in every string."""
    keyed = mask_secrets(value, keep=IDENTITY_KEYS)
    # One scan of the payload's JSON text costs a third of one scan per string (a hook
    # payload holds dozens), and `mask_text` reads JSON-escaped text as it reads plain text.
    # Keys are scanned too, which only masks more. Where the text scan would leave invalid
    # JSON (a bare number after `access_key":`), each string is masked on its own instead.
    try:
        text = orjson.dumps(keyed).decode()
    except TypeError:  # keys that are not strings, ints past 64 bits
        return _mask_strings(keyed)
    masked = mask_text(text)
    if masked is text:
        return keyed
    try:
        return orjson.loads(masked)
    except orjson.JSONDecodeError:
        return _mask_strings(keyed)


def _mask_strings(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_strings(v) for v in value]
    return value
