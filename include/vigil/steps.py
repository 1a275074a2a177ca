"""The one list of a night's steps, read by the Airflow DAG (dags/vigil_nightly.py) and by `vigil run`
(vigil.pipeline.run_nightly), so the two cannot drift.

    wait_{feed} -> extract_{feed}          (one per feed, in parallel; they never open the warehouse)
    source_freshness                        (beside them; ends before the first load)
      -> load_hr -> load_iam -> load_crm -> load_complaints -> load_cases   (one writer at a time)
      -> audit_raw -> dbt_build -> audit_publish -> check_breakers -> publish
      -> write_cases -> close_tickets -> hr_events -> create_tickets -> deliver_tickets -> deliver_cases
      -> send_alerts -> follow_drill

Each Step says whether it runs once per feed, what must finish before it, which
results it takes, and which errors are the data's fault (a retry cannot fix them: the DAG fails the
task at once). The DAG reads this module when it is parsed, so it stays light: what each step
calls is vigil.pipeline.RUNNERS[task_id], imported when a step runs (duckdb, dbt and Great Expectations with
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
    (what it runs: vigil.pipeline.RUNNERS[task_id](night, feed, *inputs) -> dict; feed is None unless
    per_feed. The calls live there so that this list imports neither the pipeline nor duckdb.)
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


# ----------------------------------------------------------------------------- what `vigil run` prints


#: An optional feed (vigil.ingest.contract.OPTIONAL_FEEDS) the bank did not send tonight.
NOT_SENT = "not sent tonight (optional feed)"


def _extracted(out: dict) -> str:
    # Row conservation, shown for every table: rows read + rows rejected = data lines.
    return ", ".join(f"{t['table']} {t['rows']:,} rows + {t['rejected_rows']:,} rejected = {t['data_lines']:,} lines"
                     for t in out["tables"]) or NOT_SENT


def _loaded(out: dict) -> str:
    return (f"drill {out['drill']} injected; " if out.get("drill") else "") + ", ".join(f"{t['table']} {t['action']}" + (" (same file as the night before)" if t["stale"] else "")
                     for t in out["tables"]) or NOT_SENT


def _fresh(out: dict) -> str:
    if out.get("skipped"):
        return out["skipped"]
    return f"{out['sources']} sources, {out['stale']} stale"


def _breakers(out: dict) -> str:
    return (f"{out['status']}: {out['planned_revocations']} planned revocations "
            + (f"(+{out['drill_revocations']} of a drill, not counted) " if out.get("drill_revocations") else "")
            + f"(threshold {out['revocation_threshold']:g}), {out['today_active']} active"
            + (f"; held: {', '.join(out['held'])}" if out["held"] else ""))


def describe_build(out: dict) -> str:
    """The dbt build line: '72 models, 381 tests passed, 2 warned (incremental: …)'; a warned test is
    never counted as passed."""
    tests = f"{out['tests_passed']} tests passed"
    if out.get("tests_warned"):
        tests += f", {out['tests_warned']} warned"
    if out.get("tests_skipped"):
        tests += f", {out['tests_skipped']} skipped"
    return (f"{out['models']} models, {tests} "
            f"({'full refresh' if out['full_refresh'] else 'incremental'}: {out['build_plan']})")


def _drill(out: dict) -> str:
    if not out.get("drills"):
        return "no drill tonight"
    return (f"{out.get('kind', 'leaver')} drill: {out['steps_done']} of {out.get('steps_total', 6)} steps done, "
            f"timings in {out['result']}")


def counts(out: dict) -> str:
    """'3 created, 1 skipped' from the integer fields of a step's result."""
    parts = [f"{v:,} {k.replace('_', ' ')}" for k, v in out.items()
             if isinstance(v, int) and not isinstance(v, bool) and k != "seconds"]
    return ", ".join(parts) or "done"


_FEED_MISSING = "vigil.pipeline.FeedMissing"
_FEED_ERROR = "vigil.ingest.reader.FeedError"
_DRILL_ERROR = "vigil.ingest.drills.DrillFileError"
_GATE_FAILED = "vigil.gates.quality.results.QualityGateFailed"
_BREAKER_HOLD = "vigil.gates.breakers.BreakerHold"
_NO_WAREHOUSE = "vigil.store.warehouse.WarehouseMissing"

#: The night, in an order that runs it in-process (every step after what it needs).
STEPS: tuple[Step, ...] = (
    Step("wait", "wait", per_feed=True, sensor=True, no_retry=(_FEED_MISSING,)),
    Step("extract", "extract", _extracted, per_feed=True, after=("wait[feed]",),
         no_retry=(_FEED_ERROR, _DRILL_ERROR)),
    # Freshness reads what earlier nights loaded, so it ends before tonight's first write; in the DAG it
    # runs beside the waits and extracts (which never open the warehouse): its dbt start-up is then off
    # the night's critical path. In-process it runs after the extracts: a bad feed stops the night first.
    Step("source_freshness", "source freshness", _fresh, no_retry=(_NO_WAREHOUSE,)),
    Step("load", "load", _loaded, per_feed=True, serial=True, inputs=("extract[feed]",),
         after=("extract", "source_freshness"), no_retry=(_NO_WAREHOUSE,)),  # nothing loads until every feed has passed
    Step("audit_raw", "audit raw",
         lambda out: f"{out['expectations']} expectations in {out['suites']} suites; Data Docs {out['data_docs']}",
         after=("load",), no_retry=(_GATE_FAILED,)),
    Step("dbt_build", "dbt build", describe_build, after=("audit_raw",)),
    Step("audit_publish", "audit publish",
         lambda out: f"{out['expectations']} expectations in {out['suites']} suites on publish_candidate",
         after=("dbt_build",), no_retry=(_GATE_FAILED,)),
    Step("check_breakers", "circuit breakers", _breakers, after=("audit_publish",),
         no_retry=(_BREAKER_HOLD,)),
    Step("publish", "publish", lambda out: f"{len(out['tables'])} tables published",
         inputs=("check_breakers",)),
    # The response loop (docs/cases.md): tonight's new and changed cases, from what was just published.
    Step("write_cases", "cases", counts, after=("publish",), action=True),
    Step("close_tickets", "close tickets", counts, inputs=("check_breakers",), after=("write_cases",),
         action=True),
    # The same-day path's reconciliation (docs/events.md): events never acted on are acted on now, and an HR
    # snapshot that contradicts an event raises a critical alert; before create_tickets, so an event's
    # tickets are tonight's own and the night makes no second one.
    Step("hr_events", "hr events", counts, after=("close_tickets",), action=True),
    Step("create_tickets", "create tickets", counts, inputs=("check_breakers",),
         after=("hr_events",), action=True),
    Step("deliver_tickets", "deliver tickets", counts, after=("create_tickets",), action=True),
    Step("deliver_cases", "deliver cases", counts, after=("deliver_tickets", "write_cases"), action=True),
    Step("send_alerts", "alerts", counts,
         inputs=("create_tickets", "deliver_tickets", "check_breakers"), after=("deliver_cases",), action=True),
    # Drills (docs/drills.md): how far and how fast the night took its drill, if it had one; last, so
    # every step the drill goes through is done.
    Step("follow_drill", "drill", _drill, after=("send_alerts",), action=True),
)

STEP_BY_ID: dict[str, Step] = {s.task_id: s for s in STEPS}
