"""
### Vigil nightly

Pulls the four feeds (HR, IAM, CRM, complaints) for the logical date **D**, validates and
pseudonymises them, loads them, builds the dbt models, gates them, and only then publishes and acts.

```
wait_{feed} -> extract_{feed}   (x4, in parallel; they never open the warehouse)
source_freshness                 (beside them: dbt source freshness on the earlier nights; warns only)
  -> load_hr -> load_iam -> load_crm -> load_complaints   (one writer at a time: DuckDB allows one)
  -> audit_raw -> dbt_build -> audit_publish -> check_breakers -> publish
  -> write_cases -> close_tickets -> create_tickets -> deliver_tickets -> send_alerts
```

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

Logic lives in `vigil.pipeline` (the `include/` folder); this file only wires it.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, chain, dag, get_current_context, task

FEEDS = ("hr", "iam", "crm", "complaints")


def _run_date() -> dt.date:
    context = get_current_context()
    override = (context.get("params") or {}).get("run_date")
    if override:
        return dt.date.fromisoformat(override)
    return context["logical_date"].astimezone(dt.timezone.utc).date()


def _run_id() -> str:
    return get_current_context()["run_id"]


def _settings():
    from vigil.config import Settings

    return Settings.from_env()


def _no_retry(fn, *errors):
    """Call fn; errors the data will not outgrow on a retry fail the task at once."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        return fn()
    except errors as exc:
        raise AirflowFailException(str(exc)) from exc


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
    @task
    def source_freshness() -> dict:
        from vigil.pipeline import check_source_freshness

        return check_source_freshness(_settings(), _run_date())

    @task.sensor(poke_interval=300, timeout=24 * 3600, mode="reschedule")
    def wait(feed: str) -> bool:
        from vigil.pipeline import FeedMissing, feed_deadline, wait_for_feed

        settings = _settings()
        context = get_current_context()
        interval_end = context.get("data_interval_end") or context["logical_date"]
        deadline = feed_deadline(interval_end, settings.feed_wait_seconds)
        return _no_retry(lambda: wait_for_feed(settings, feed, _run_date(), deadline), FeedMissing)

    @task
    def extract(feed: str) -> dict:
        from vigil.pipeline import extract_feed
        from vigil.ingest.reader import FeedError

        return _no_retry(lambda: extract_feed(_settings(), feed, _run_date(), _run_id()), FeedError)

    @task
    def load(extracted: dict) -> dict:
        from vigil.pipeline import load_feed

        return load_feed(_settings(), extracted)

    @task
    def audit_raw() -> dict:
        from vigil.pipeline import audit_raw as run_audit
        from vigil.gates.quality import QualityGateFailed

        return _no_retry(lambda: run_audit(_settings(), _run_date(), _run_id()), QualityGateFailed)

    @task
    def dbt_build() -> dict:
        from vigil.pipeline import build_models

        return build_models(_settings(), _run_date(),
                            full_refresh=bool((get_current_context().get("params") or {}).get("full_refresh")))

    @task
    def audit_publish() -> dict:
        from vigil.pipeline import audit_publish as run_audit
        from vigil.gates.quality import QualityGateFailed

        return _no_retry(lambda: run_audit(_settings(), _run_date(), _run_id()), QualityGateFailed)

    @task
    def check_breakers() -> dict:
        from vigil.gates.breakers import BreakerHold
        from vigil.pipeline import check_breakers as run_breakers

        return _no_retry(lambda: run_breakers(_settings(), _run_date(), _run_id()), BreakerHold)

    # Each action gets the breakers' decision: what it holds tonight (vigil.gates.breakers.SCOPES).
    @task
    def publish(decision: dict) -> dict:
        from vigil.pipeline import publish_night

        return publish_night(_settings(), _run_date(), _run_id(), decision)

    @task
    def write_cases() -> dict:
        from vigil.pipeline import write_night_cases

        return write_night_cases(_settings(), _run_date(), _run_id())

    @task
    def close_tickets(decision: dict) -> dict:
        from vigil.pipeline import close_revocations

        return close_revocations(_settings(), _run_date(), _run_id(), decision)

    @task
    def create_tickets(decision: dict) -> dict:
        from vigil.pipeline import issue_tickets

        return issue_tickets(_settings(), _run_date(), _run_id(), decision)

    @task
    def deliver_tickets() -> dict:
        from vigil.pipeline import deliver

        return deliver(_settings(), _run_date(), _run_id())

    @task
    def send_alerts(created: dict, delivered: dict, decision: dict) -> dict:
        from vigil.pipeline import nightly_alerts

        return nightly_alerts(_settings(), _run_date(), _run_id(), created=created, delivered=delivered,
                              breakers_out=decision)

    freshness = source_freshness()
    waits = {feed: wait.override(task_id=f"wait_{feed}")(feed) for feed in FEEDS}
    extracts = {feed: extract.override(task_id=f"extract_{feed}")(feed) for feed in FEEDS}
    for feed in FEEDS:
        waits[feed] >> extracts[feed]
    loads = [load.override(task_id=f"load_{feed}")(extracts[feed]) for feed in FEEDS]
    for ld in loads:
        ld.set_upstream(list(extracts.values()))  # nothing loads until every feed has passed
        # Freshness reads what earlier nights loaded, so it ends before tonight's first write; it
        # runs beside the waits and extracts (which never open the warehouse) instead of before them:
        # its dbt start-up is then off the night's critical path.
        ld.set_upstream(freshness)
    decision = check_breakers()
    created, delivered = create_tickets(decision), deliver_tickets()
    chain(*loads, audit_raw(), dbt_build(), audit_publish(), decision, publish(decision), write_cases(), close_tickets(decision),
          created, delivered, send_alerts(created, delivered, decision))


vigil_nightly()
