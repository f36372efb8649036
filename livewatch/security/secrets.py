"""Mask state fields whose names look like secrets, in every outlet that shows state."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

MASK = "********"
SECRET_NAME = re.compile(
    r"token|secret|passw(or)?d|api[_-]?key|private[_-]?key|credential|auth|cookie|session[_-]?id",
    re.IGNORECASE,
)


def mask_secrets(value: Any, keep: frozenset[str] = frozenset()) -> Any:
    """A copy of `value` with the values of secret-looking keys replaced, at any depth.

    `keep` names keys that look secret but are not (a hook's `session_id` is its identity).
    """
    if isinstance(value, dict):
        return {
            k: MASK
            if k not in keep and _secret_name(str(k)) and v not in (None, "")
            else mask_secrets(v, keep)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v, keep) for v in value]
    return value


@lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    # Payloads repeat the same few dozen keys, and a case-blind search is ~2 µs a key.
    return SECRET_NAME.search(key) is not None


def mask_url(url: str) -> str:
    """A URL fit for logs: its scheme and host only (a Slack webhook's path is its token)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]  # and never `user:password@`
    return f"{scheme}://{host}/{MASK}" if rest else MASK
