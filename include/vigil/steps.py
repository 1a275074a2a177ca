"""The one list of a night's steps, read by the Airflow DAG (dags/vigil_nightly.py) and by `vigil run`
(vigil.pipeline.run_nightly), so the two cannot drift.

    wait_{feed} -> extract_{feed}          (x4, in parallel; they never open the warehouse)
    source_freshness                        (beside them; ends before the first load)
      -> load_hr -> load_iam -> load_crm -> load_complaints   (one writer at a time)
      -> audit_raw -> dbt_build -> audit_publish -> check_breakers -> publish
      -> close_tickets -> create_tickets -> deliver_tickets -> send_alerts

Each Step says what it runs, whether it runs once per feed, what must finish before it, which
results it takes, and which errors are the data's fault (a retry cannot fix them: the DAG fails the
task at once). The DAG reads this module when it is parsed, so it stays light: the step functions
live in vigil.pipeline and are imported when a step runs (duckdb, dbt and Great Expectations with
them), never at parse time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from vigil.config import Settings
from vigil.ingest.contract import FEEDS


@dataclass(frozen=True)
class Night:
    """What every step of one night is called with."""

    settings: Settings
    run_date: dt.date
    run_id: str
    full_refresh: bool = False  # rebuild the incremental models whole (vigil.pipeline.build_models)
    alert: bool = True  # the gates and breakers alert (off for `vigil run --no-actions`)
    interval_end: dt.datetime | None = None  # the DAG run's data interval end: the feeds' deadline counts from it


@dataclass(frozen=True)
class Step:
    """One step of the night.

    task_id  the DAG's task id (a per-feed step: f"{task_id}_{feed}")
    label    the step's name in `vigil run`'s output and summary.json (a per-feed step: f"{label} {feed}")
    run      run(night, feed, *inputs) -> dict (feed is None unless per_feed)
    after    steps that must have finished first: "x" is every instance of x, "x[feed]" the same feed's
    inputs   steps whose results run() takes, in order (also upstream); same notation as `after`
    serial   a per-feed step whose instances run one after another, in FEEDS order
    no_retry errors a retry cannot fix ("module.Class", matched against the error's classes)
    sensor   waits for a delivery: Airflow only (in-process the delivery is there, or extract says
             what is missing)
    action   reaches people or IAM systems: skipped by `vigil run --no-actions`
    """

    task_id: str
    label: str
    run: Callable[..., dict]
    describe: Callable[[dict], str] = lambda out: "done"
    per_feed: bool = False
    after: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    serial: bool = False
    no_retry: tuple[str, ...] = ()
    sensor: bool = False
    action: bool = False

    def instances(self) -> list[tuple[str, str | None]]:
        """(task id, feed) of each instance: one per feed, or one."""
        return [(f"{self.task_id}_{f}", f) for f in FEEDS] if self.per_feed else [(self.task_id, None)]

    def label_for(self, feed: str | None) -> str:
        return f"{self.label} {feed}" if feed else self.label

    def retry_cannot_fix(self, exc: BaseException) -> bool:
        return any(f"{c.__module__}.{c.__qualname__}" in self.no_retry for c in type(exc).__mro__)


def resolve(ref: str, feed: str | None) -> list[str]:
    """The task ids a reference in `after`/`inputs` names, for the instance of `feed`."""
    step = STEP_BY_ID[ref.removesuffix("[feed]")]
    if ref.endswith("[feed]"):
        if not (step.per_feed and feed):
            raise ValueError(f"{ref}: only a per-feed step can name the same feed's instance of a per-feed step")
        return [f"{step.task_id}_{feed}"]
    return [tid for tid, _ in step.instances()]


def upstream_of(step: Step, feed: str | None) -> set[str]:
    """Every task id that must finish before this instance (its `after`, its `inputs`, and for a
    serial step the previous feed's instance)."""
    ids = {tid for ref in (*step.after, *step.inputs) for tid in resolve(ref, feed)}
    if step.serial and feed != FEEDS[0]:
        ids.add(f"{step.task_id}_{FEEDS[FEEDS.index(feed) - 1]}")
    return ids


def task_graph(steps: tuple[Step, ...] | None = None) -> dict[str, set[str]]:
    """task id -> its upstream task ids, for every instance of every step (the DAG's shape)."""
    return {tid: upstream_of(s, feed) for s in (steps or STEPS) for tid, feed in s.instances()}


# ----------------------------------------------------------------------------- the steps' calls
# Each imports vigil.pipeline when it runs: the DAG parses this module without duckdb, dbt or GX.


def _wait(night: Night, feed: str) -> bool:
    from vigil.pipeline import feed_deadline, wait_for_feed

    deadline = feed_deadline(night.interval_end, night.settings.feed_wait_seconds)
    return wait_for_feed(night.settings, feed, night.run_date, deadline)


def _extract(night: Night, feed: str) -> dict:
    from vigil.pipeline import extract_feed

    return extract_feed(night.settings, feed, night.run_date, night.run_id)


def _freshness(night: Night, feed: None) -> dict:
    from vigil.pipeline import check_source_freshness

    return check_source_freshness(night.settings, night.run_date)


def _load(night: Night, feed: str, extracted: dict) -> dict:
    from vigil.pipeline import load_feed

    return load_feed(night.settings, extracted)


def _audit_raw(night: Night, feed: None) -> dict:
    from vigil.pipeline import audit_raw

    return audit_raw(night.settings, night.run_date, night.run_id, alert=night.alert)


def _dbt_build(night: Night, feed: None) -> dict:
    from vigil.pipeline import build_models

    return build_models(night.settings, night.run_date, full_refresh=night.full_refresh)


def _audit_publish(night: Night, feed: None) -> dict:
    from vigil.pipeline import audit_publish

    return audit_publish(night.settings, night.run_date, night.run_id, alert=night.alert)


def _check_breakers(night: Night, feed: None) -> dict:
    from vigil.pipeline import check_breakers

    return check_breakers(night.settings, night.run_date, night.run_id, alert=night.alert)


# Each action gets the breakers' decision: what it holds tonight (vigil.gates.breakers.SCOPES).
def _publish(night: Night, feed: None, decision: dict) -> dict:
    from vigil.pipeline import publish_night

    return publish_night(night.settings, night.run_date, night.run_id, decision)


def _close_tickets(night: Night, feed: None, decision: dict) -> dict:
    from vigil.pipeline import close_revocations

    return close_revocations(night.settings, night.run_date, night.run_id, decision)


def _create_tickets(night: Night, feed: None, decision: dict) -> dict:
    from vigil.pipeline import issue_tickets

    return issue_tickets(night.settings, night.run_date, night.run_id, decision)


def _deliver_tickets(night: Night, feed: None) -> dict:
    from vigil.pipeline import deliver

    return deliver(night.settings, night.run_date, night.run_id)


def _send_alerts(night: Night, feed: None, created: dict, delivered: dict, decision: dict) -> dict:
    from vigil.pipeline import nightly_alerts

    return nightly_alerts(night.settings, night.run_date, night.run_id, created=created, delivered=delivered,
                          breakers_out=decision)


# ----------------------------------------------------------------------------- what `vigil run` prints


def _extracted(out: dict) -> str:
    # Row conservation, shown for every table: rows read + rows rejected = data lines.
    return ", ".join(f"{t['table']} {t['rows']:,} rows + {t['rejected_rows']:,} rejected = {t['data_lines']:,} lines"
                     for t in out["tables"])


def _loaded(out: dict) -> str:
    return ", ".join(f"{t['table']} {t['action']}" + (" (same file as the night before)" if t["stale"] else "")
                     for t in out["tables"])


def _fresh(out: dict) -> str:
    if out.get("skipped"):
        return out["skipped"]
    return f"{out['sources']} sources, {out['stale']} stale"


def _breakers(out: dict) -> str:
    return (f"{out['status']}: {out['planned_revocations']} planned revocations "
            f"(threshold {out['revocation_threshold']:g}), {out['today_active']} active"
            + (f"; held: {', '.join(out['held'])}" if out["held"] else ""))


def _build(out: dict) -> str:
    from vigil.pipeline import describe_build

    return describe_build(out)


def counts(out: dict) -> str:
    """'3 created, 1 skipped' from the integer fields of a step's result."""
    parts = [f"{v:,} {k.replace('_', ' ')}" for k, v in out.items()
             if isinstance(v, int) and not isinstance(v, bool) and k != "seconds"]
    return ", ".join(parts) or "done"


_FEED_MISSING = "vigil.pipeline.FeedMissing"
_FEED_ERROR = "vigil.ingest.reader.FeedError"
_GATE_FAILED = "vigil.gates.quality.results.QualityGateFailed"
_BREAKER_HOLD = "vigil.gates.breakers.BreakerHold"

#: The night, in an order that runs it in-process (every step after what it needs).
STEPS: tuple[Step, ...] = (
    Step("wait", "wait", _wait, per_feed=True, sensor=True, no_retry=(_FEED_MISSING,)),
    Step("extract", "extract", _extract, _extracted, per_feed=True, after=("wait[feed]",), no_retry=(_FEED_ERROR,)),
    # Freshness reads what earlier nights loaded, so it ends before tonight's first write; in the DAG it
    # runs beside the waits and extracts (which never open the warehouse): its dbt start-up is then off
    # the night's critical path. In-process it runs after the extracts: a bad feed stops the night first.
    Step("source_freshness", "source freshness", _freshness, _fresh),
    Step("load", "load", _load, _loaded, per_feed=True, serial=True, inputs=("extract[feed]",),
         after=("extract", "source_freshness")),  # nothing loads until every feed has passed
    Step("audit_raw", "audit raw", _audit_raw,
         lambda out: f"{out['expectations']} expectations in {out['suites']} suites; Data Docs {out['data_docs']}",
         after=("load",), no_retry=(_GATE_FAILED,)),
    Step("dbt_build", "dbt build", _dbt_build, _build, after=("audit_raw",)),
    Step("audit_publish", "audit publish", _audit_publish,
         lambda out: f"{out['expectations']} expectations in {out['suites']} suites on publish_candidate",
         after=("dbt_build",), no_retry=(_GATE_FAILED,)),
    Step("check_breakers", "circuit breakers", _check_breakers, _breakers, after=("audit_publish",),
         no_retry=(_BREAKER_HOLD,)),
    Step("publish", "publish", _publish, lambda out: f"{len(out['tables'])} tables published",
         inputs=("check_breakers",)),
    Step("close_tickets", "close tickets", _close_tickets, counts, inputs=("check_breakers",), after=("publish",),
         action=True),
    Step("create_tickets", "create tickets", _create_tickets, counts, inputs=("check_breakers",),
         after=("close_tickets",), action=True),
    Step("deliver_tickets", "deliver tickets", _deliver_tickets, counts, after=("create_tickets",), action=True),
    Step("send_alerts", "alerts", _send_alerts, counts,
         inputs=("create_tickets", "deliver_tickets", "check_breakers"), action=True),
)

STEP_BY_ID: dict[str, Step] = {s.task_id: s for s in STEPS}
