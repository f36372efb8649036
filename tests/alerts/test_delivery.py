"""Posting to real HTTP receivers: retried with backoff, refused at once, never hanging long."""

from __future__ import annotations

import time

import pytest
from webhook_receiver import Receiver

from livewatch.alerts import delivery

BODY = {
    "id": "a1b2c3d4:failed:build",
    "event": "failed",
    "adw_id": "a1b2c3d4",
    "text": "Workflow a1b2c3d4 failed",
}


async def send(url: str, *, give_up_s: float = 5.0, timeout_s: float = 5.0) -> tuple:
    failures: list[str] = []

    async def failed(attempts: int, error: str) -> None:
        failures.append(error)

    async with delivery.client(timeout_s) as http:
        result = await delivery.deliver(
            http,
            url,
            BODY,
            attempts=0,
            first_try_ms=int(time.time() * 1000),
            give_up_s=give_up_s,
            on_failure=failed,
        )
    return (*result, failures)


async def test_a_webhook_that_fails_first_then_succeeds_gets_it_on_a_retry() -> None:
    with Receiver("fail_first", failures=2) as rx:
        state, attempts, error, failures = await send(rx.url)
        assert (state, attempts, error) == ("delivered", 3, None)
        assert failures == ["HTTP 500", "HTTP 500"]
        assert rx.bodies() == [BODY] * 3
        # Every attempt carries the same key, so a receiver can drop a repeat.
        assert [p["idempotency_key"] for p in rx.posts] == ["a1b2c3d4:failed:build"] * 3


async def test_a_500_is_retried_until_it_gives_up() -> None:
    with Receiver("error") as rx:
        started = time.monotonic()
        state, attempts, error, _ = await send(rx.url, give_up_s=1.0)
        assert state == "failed" and attempts >= 2 and "HTTP 500" in error
        assert time.monotonic() - started < 1.0 + 1.0  # no wait sleeps past the budget
        assert len(rx.posts) == attempts


async def test_a_redirect_to_itself_is_not_followed_and_not_retried() -> None:
    with Receiver("redirect") as rx:
        state, attempts, error, _ = await send(rx.url)
        assert (state, attempts) == ("failed", 1)
        assert "302" in error and "secret" not in error
        assert len(rx.posts) == 1


async def test_a_hanging_webhook_times_out_quickly() -> None:
    with Receiver("hang") as rx:
        started = time.monotonic()
        state, _, error, failures = await send(rx.url, give_up_s=0.5, timeout_s=0.3)
        assert state == "failed" and failures[0].startswith("timed out")
        assert time.monotonic() - started < 3
        assert "secret" not in error


@pytest.mark.parametrize("code", [400, 404])
async def test_a_client_error_fails_at_once(code: int) -> None:
    with Receiver("ok") as rx:
        rx.answer = lambda count: code  # type: ignore[method-assign]
        state, attempts, error, _ = await send(rx.url)
        assert (state, attempts, error) == ("failed", 1, f"HTTP {code}")
