"""The batch writer: rows from any thread, written from its own in few transactions."""

from __future__ import annotations

import time

from livewatch.store.writer import BatchWriter, Offsets, Row


def writer_into(
    batches: list[list[Row]], *, linger_s: float, awaited_linger_s: float | None = None
) -> BatchWriter:
    def write(rows: list[Row], _offsets: Offsets) -> None:
        batches.append(rows)

    return BatchWriter(
        write,
        prepare=lambda: None,
        reset=lambda: None,
        housekeep=lambda: False,
        linger_s=linger_s,
        awaited_linger_s=awaited_linger_s,
    )


def submit_for(writer: BatchWriter, seconds: float) -> int:
    """One row a millisecond, as hook posts at 1,000/s come; returns the last seq."""
    seq, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        seq += 1
        writer.submit([{"seq": seq}])
        time.sleep(0.001)
    return seq


def test_lingering_folds_a_steady_stream_into_few_transactions() -> None:
    eager: list[list[Row]] = []
    lingering: list[list[Row]] = []
    for batches, linger_s in ((eager, 0.0), (lingering, 0.05)):
        writer = writer_into(batches, linger_s=linger_s)
        writer.start(ready=True)
        last = submit_for(writer, 0.5)
        assert writer.flush_sync(last, timeout=5)
        writer.close()
        assert [row["seq"] for batch in batches for row in batch] == list(range(1, last + 1))
    # At most one commit per linger (0.5 s / 0.05 s, and the last): ~11, where an eager
    # writer, woken by every row, commits far more often.
    assert len(lingering) <= 15 < len(eager)


def test_a_lone_row_is_written_at_once() -> None:
    batches: list[list[Row]] = []
    writer = writer_into(batches, linger_s=0.5)
    writer.start(ready=True)
    for seq in (1, 2):  # far apart: no stream, no lingering
        started = time.monotonic()
        writer.submit([{"seq": seq}])
        assert writer.flush_sync(seq, timeout=5)
        assert time.monotonic() - started < 0.4
        time.sleep(0.6)
    writer.close()
    assert [[r["seq"] for r in b] for b in batches] == [[1], [2]]


def test_a_row_someone_awaits_lingers_only_the_short_while() -> None:
    batches: list[list[Row]] = []
    writer = writer_into(batches, linger_s=1.0, awaited_linger_s=0.01)
    writer.start(ready=True)
    last = submit_for(writer, 0.3)  # a steady stream: the writer lingers up to 1 s now
    started = time.monotonic()
    assert writer.flush_sync(last, timeout=5)
    waited = time.monotonic() - started
    writer.close()
    assert waited < 0.5, f"waited {waited:.2f} s: the long linger held an awaited row"
    # Nobody awaited the stream itself: it went in very few commits.
    assert len(batches) <= 4, [len(b) for b in batches]


def test_a_heavy_stream_lingers_longer_and_a_light_one_does_not() -> None:
    def commits(rows_per_ms: int) -> list[list[Row]]:
        batches: list[list[Row]] = []
        writer = BatchWriter(
            lambda rows, _offsets: batches.append(rows),
            prepare=lambda: None,
            reset=lambda: None,
            housekeep=lambda: False,
            linger_s=0.02,
            busy_linger_s=0.2,
            busy_rows=100,
        )
        writer.start(ready=True)
        seq, end = 0, time.monotonic() + 0.6
        while time.monotonic() < end:
            writer.submit([{"seq": seq + i + 1} for i in range(rows_per_ms)])
            seq += rows_per_ms
            time.sleep(0.001)
        assert writer.flush_sync(seq, timeout=5)
        writer.close()
        return batches

    light, heavy = commits(1), commits(20)
    # ~1 row a ms: commits of ~20 rows, so the short linger stays (~30 in 0.6 s).
    assert len(light) >= 12, [len(b) for b in light]
    # ~20 rows a ms: commits of hundreds, so the long linger takes over (~4 in 0.6 s).
    assert len(heavy) <= 8, [len(b) for b in heavy]
