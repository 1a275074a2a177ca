"""
### Vigil nightly

Pulls the four feeds (HR, IAM, CRM, complaints) for the logical date **D**, validates and
pseudonymises them, loads them, builds the dbt models, gates them, and only then publishes and acts.

```
wait_{feed} -> extract_{feed}   (x4, in parallel; they never open the warehouse)
source_freshness                 (beside them: dbt source freshness on the earlier nights; warns only)
  -> load_hr -> load_iam -> load_crm -> load_complaints   (one writer at a time: DuckDB allows one)
  -> audit_raw -> dbt_build -> audit_publish -> check_breakers -> publish
  -> write_cases -> close_tickets -> hr_events -> create_tickets -> deliver_tickets -> deliver_cases -> send_alerts
  -> follow_drill
```

`follow_drill` times the night's drill, if `vigil drill` / `vigil_drill` planned one (docs/drills.md):
its marked synthetic leaver went through the same rules, tickets, cases and alerts, to drill channels only.

`hr_events` reconciles the same-day path (`vigil_urgent`, docs/events.md): an event file never acted
on is acted on and reported; an event tonight's HR snapshot contradicts raises a critical alert.

**Write → audit → publish.** `dbt_build` writes the published models into `publish_candidate`;
`audit_raw` and `audit_publish` run the Great Expectations suites (`expectations/`), and
`check_breakers` the circuit breakers. Only when all pass does `publish` copy the candidate into
`publish` (one transaction) and do tickets and alerts run. A failed critical gate or a breaker that
holds the whole night fails its task **without retries**: nothing is published, no ticket is made, and the only
alert is the data-quality or breaker alert naming the cause. Data Docs: `<out>/data_docs/index.html`.

**A held night** (breaker): check it, then `vigil approve --date D --reason TEXT --by NAME` and
clear `check_breakers` (with downstream). The approval is bound to every tripped breaker's measured
values (headcounts, counts, stale files, the planned revocations). A breaker holds only what its
feed feeds (vigil.gates.breakers.SCOPES): a stuck CRM client book holds the CRM-derived alerts while the
night publishes and its revocations go out.

* `wait_{feed}` waits for `<landing>/<feed>/<D>/` until the deadline (the end of D plus
  `VIGIL_FEED_WAIT_SECONDS`, default 6 h), then fails: a missing feed is never an empty night.
* A feed that breaks the contract fails its extract task without retries (the message names
  file, line and column) and nothing is loaded for that night.
* **D** is the run's logical date (UTC); the `run_date` param overrides it for a manual run.
* `dbt_build` folds only the new partitions into the history-wide models (incremental), and
  rebuilds them whole when it must (a rerun, a backfill, a reloaded earlier night, a changed dbt
  project) or when the `full_refresh` param is set.
* Configuration comes from `VIGIL_*` environment variables; the pseudonymisation key from
  `VIGIL_PSEUDONYMISATION_KEY` or the Airflow connection `vigil_pseudonymisation`.

The steps, their order and which errors fail a task without retries are one list, `vigil.steps.STEPS`,
which `vigil run` runs too; this file only turns it into tasks. Logic lives in `vigil.pipeline`.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from vigil.config import Settings
from vigil.steps import STEPS, Night, Step, resolve, upstream_of


def _night() -> Night:
    context = get_current_context()
    params = context.get("params") or {}
    run_date = (dt.date.fromisoformat(params["run_date"]) if params.get("run_date")
                else context["logical_date"].astimezone(dt.timezone.utc).date())
    return Night(Settings.from_env(), run_date, context["run_id"], full_refresh=bool(params.get("full_refresh")),
                 interval_end=context.get("data_interval_end") or context["logical_date"])


def _callable(step: Step):
    def run(feed: str | None = None, inputs: list | None = None):
        """Run the step; an error the data will not outgrow on a retry fails the task at once."""
        from airflow.sdk.exceptions import AirflowFailException

        try:
            from vigil.pipeline import run_step  # heavy (duckdb, dbt): imported when a task runs, not at parse time

            return run_step(step, _night(), feed, *(inputs or []))
        except Exception as exc:
            if step.retry_cannot_fix(exc):
                raise AirflowFailException(str(exc)) from exc
            raise
    run.__name__ = step.task_id
    return run


@dag(
    dag_id="vigil_nightly",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "vigil",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=5),
        "retry_exponential_backoff": True,
    },
    params={
        "run_date": Param(None, type=["null", "string"], format="date", description="override D (YYYY-MM-DD)"),
        "full_refresh": Param(False, type="boolean",
                              description="rebuild the incremental models whole (done anyway for reruns, backfills "
                                          "and reloaded nights)"),
    },
    tags=["vigil", "nightly", "compliance"],
    doc_md=__doc__,
)
def vigil_nightly():
    tasks = {}
    for step in STEPS:
        decorate = task.sensor(poke_interval=300, timeout=24 * 3600, mode="reschedule") if step.sensor else task
        for task_id, feed in step.instances():
            # Results travel as XCom: a step's inputs are the results of the steps it names.
            inputs = [tasks[t] for ref in step.inputs for t in resolve(ref, feed)]
            tasks[task_id] = decorate(_callable(step)).override(task_id=task_id)(feed, inputs)
    for step in STEPS:
        for task_id, feed in step.instances():
            tasks[task_id].set_upstream([tasks[t] for t in sorted(upstream_of(step, feed))])


vigil_nightly()
