"""The wait for a feed: a missing folder is a source error at the deadline, never an empty night."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from fixtures.nights import D, minimal_night_as_of, write_night
from vigil.pipeline import FeedMissing, feed_deadline, wait_for_feed

UTC = dt.timezone.utc


def test_deadline_is_the_interval_end_plus_the_wait_even_for_airflows_pendulum_datetimes():
    end = pendulum.datetime(2026, 3, 2, tz="Europe/Zurich")  # 23:00 UTC on 1 March
    deadline = feed_deadline(end, 3600)
    assert deadline == dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert deadline.tzinfo is not None
    with pytest.raises(ValueError, match="time zone"):
        feed_deadline(dt.datetime(2026, 3, 2), 0)


def test_a_missing_feed_is_waited_for_until_the_deadline_then_fails(settings):
    write_night(settings.landing, D, minimal_night_as_of(D), feeds=("hr", "iam", "complaints"))
    deadline = feed_deadline(pendulum.datetime(2026, 3, 3, tz="UTC"), 0)
    second = dt.timedelta(seconds=1)
    assert wait_for_feed(settings, "hr", D, deadline, now=deadline + second) is True  # arrived: late is fine
    assert wait_for_feed(settings, "crm", D, deadline, now=deadline - second) is False  # keep waiting
    with pytest.raises(FeedMissing, match=r"crm feed for 2026-03-02 had not arrived") as e:
        wait_for_feed(settings, "crm", D, deadline, now=deadline)  # the deadline itself is too late
    assert "crm/2026-03-02" in str(e.value)


def test_a_folder_missing_a_required_file_is_not_ready(settings):
    landing = write_night(settings.landing, D, minimal_night_as_of(D))
    deadline = dt.datetime(2026, 3, 3, tzinfo=UTC)
    assert wait_for_feed(settings, "iam", D, deadline, now=deadline - dt.timedelta(hours=1)) is True
    (landing / "iam" / D.isoformat() / "accounts.csv").unlink()
    assert wait_for_feed(settings, "iam", D, deadline, now=deadline - dt.timedelta(hours=1)) is False
