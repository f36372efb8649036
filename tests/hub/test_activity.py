"""The activity series: changes per minute, the last hour, oldest first."""

from __future__ import annotations

from livewatch.hub.activity import Activity
from livewatch.hub.collection import Collection
from livewatch.hub.records import workflow_key

NOW = 1_800_000_000.0  # a minute boundary: 30,000,000 minutes


def test_counts_land_in_their_minute_and_old_ones_fall_off() -> None:
    activity = Activity(minutes=60)
    activity.record(3, NOW - 61 * 60)  # older than the hour
    activity.record(2, NOW - 59 * 60)
    activity.record(1, NOW + 5)
    activity.record(4, NOW + 50)
    series = activity.series(NOW + 55)
    assert len(series) == 60
    assert series[-1] == (NOW, 5)
    assert series[0] == (NOW - 59 * 60, 2)
    assert sum(count for _, count in series) == 7


def test_follow_counts_the_records_each_change_touches() -> None:
    collection = Collection("workflows", workflow_key)
    activity = Activity()
    activity.follow(collection)
    collection.apply([{"adw_id": "a"}, {"adw_id": "b"}])
    collection.apply([], remove=["a"])
    assert activity.series()[-1][1] == 3
    assert collection.subscriber_count == 0  # a tally, not a client
