"""Mask state fields whose names look like secrets, in every outlet that shows state."""

from __future__ import annotations

import re
from typing import Any

MASK = "********"
SECRET_NAME = re.compile(
    r"token|secret|passw(or)?d|api[_-]?key|private[_-]?key|credential|auth|cookie|session[_-]?id",
    re.IGNORECASE,
)


def mask_secrets(value: Any) -> Any:
    """A copy of `value` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: MASK if SECRET_NAME.search(str(k)) and v not in (None, "") else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value
