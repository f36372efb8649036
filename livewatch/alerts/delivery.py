"""Posting one alert to one webhook: short timeouts, no redirects, retries through tenacity.

A 2xx is delivered. A timeout, a connection error, 408, 429 or a 5xx is retried with
exponential backoff and full jitter until `give_up_s` after the first try. Any other answer
(a redirect, a 4xx) will not change on its own: it fails at once. Errors never carry the
URL, which is a secret for Slack and Discord.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_before_delay,
    wait_random_exponential,
)

# httpx logs every request with its full URL at info: a Slack webhook's URL is its token.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

# A webhook that hangs costs at most this per attempt, and never holds up anything else.
TIMEOUT_S = 5.0
RETRY_STATUSES = frozenset({408, 425, 429})
BACKOFF_MULTIPLIER_S = 0.5
BACKOFF_MAX_S = 60.0


class Retryable(Exception):
    """An attempt failed in a way a later one may not."""


class Refused(Exception):
    """The webhook answered in a way retrying will not change."""


def client(timeout_s: float = TIMEOUT_S) -> httpx.AsyncClient:
    """One client for every webhook: redirects are not followed (a loop must not trap us)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
        follow_redirects=False,
        headers={"User-Agent": "livewatch-alerts"},
        limits=httpx.Limits(max_connections=32),
    )


async def post_once(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
    """One attempt: returns on 2xx, raises Retryable or Refused with a URL-free reason."""
    # The alert's id also as the header that the IETF's idempotency draft names.
    headers = {"Idempotency-Key": str(body["id"])} if body.get("id") else None
    try:
        response = await http.post(url, json=body, headers=headers)
    except httpx.TimeoutException as error:
        raise Retryable(f"timed out ({type(error).__name__})") from None
    except httpx.HTTPError as error:
        raise Retryable(type(error).__name__) from None
    code = response.status_code
    if 200 <= code < 300:
        return
    if code >= 500 or code in RETRY_STATUSES:
        raise Retryable(f"HTTP {code}")
    if 300 <= code < 400:
        raise Refused(f"HTTP {code} redirect (not followed)")
    raise Refused(f"HTTP {code}")


async def deliver(
    http: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    attempts: int,
    first_try_ms: int,
    give_up_s: float,
    on_failure: Callable[[int, str], Awaitable[None]],
) -> tuple[str, int, str | None]:
    """Try until delivered, refused or `give_up_s` after the first try (even across restarts).

    Returns (state, attempts, last error): "delivered" or "failed". `on_failure` hears each
    failed attempt that will be retried.
    """
    left = give_up_s - (time.time() - first_try_ms / 1000)
    last: str | None = None
    retrying = AsyncRetrying(
        stop=stop_before_delay(max(left, 0.0)),
        wait=wait_random_exponential(multiplier=BACKOFF_MULTIPLIER_S, max=BACKOFF_MAX_S),
        retry=retry_if_exception_type(Retryable),
    )
    try:
        async for attempt in retrying:
            with attempt:
                attempts += 1
                try:
                    await post_once(http, url, body)
                except Retryable as error:
                    last = str(error)
                    await on_failure(attempts, last)
                    raise
    except RetryError:
        return "failed", attempts, f"gave up after {attempts} attempts: {last}"
    except Refused as error:
        return "failed", attempts, str(error)
    return "delivered", attempts, None
