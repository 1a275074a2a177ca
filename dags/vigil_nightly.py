"""
### Vigil nightly

Pulls the four feeds (HR, IAM, CRM, complaints) for the logical date **D**, validates and
pseudonymises them, loads them into the warehouse and builds the dbt models.

```
extract_hr ─┐
extract_iam ─┤                                   (no warehouse writes; run in parallel)
extract_crm ─┼─> load_hr -> load_iam -> load_crm -> load_complaints -> audit_raw -> dbt_build
extract_complaints ─┘                            (one writer at a time: DuckDB allows one)
```

* `audit_raw` runs the raw layer's Great Expectations suites (`expectations/`) on night D: a
  failed **critical** expectation stops the night before dbt runs; warnings are reported. Data
  Docs: `<out>/data_docs/index.html`.

* **D** is the run's logical date (UTC): the run for D reads `<landing>/<feed>/<D>/` and starts
  after midnight at the end of D. The `run_date` param overrides it for a manual run.
* A feed that breaks the contract fails its extract task **without retries** (the message names
  file, line and column) and nothing is loaded for that night.
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


def _settings():
    from vigil.config import Settings

    return Settings.from_env()


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
    params={"run_date": Param(None, type=["null", "string"], format="date", description="override D (YYYY-MM-DD)")},
    tags=["vigil", "nightly", "compliance"],
    doc_md=__doc__,
)
def vigil_nightly():
    @task
    def extract(feed: str) -> dict:
        from airflow.sdk.exceptions import AirflowFailException
        from vigil.pipeline import extract_feed
        from vigil.transforms.reader import FeedError

        try:
            return extract_feed(_settings(), feed, _run_date(), get_current_context()["run_id"])
        except FeedError as exc:  # bad data does not get better on retry
            raise AirflowFailException(str(exc)) from exc

    @task
    def load(extracted: dict) -> dict:
        from vigil.pipeline import load_feed

        return load_feed(_settings(), extracted)

    @task
    def audit_raw() -> dict:
        from airflow.sdk.exceptions import AirflowFailException
        from vigil.pipeline import audit_raw as run_audit
        from vigil.quality import QualityGateFailed

        try:
            return run_audit(_settings(), _run_date(), get_current_context()["run_id"])
        except QualityGateFailed as exc:  # the data will not pass on a retry
            raise AirflowFailException(str(exc)) from exc

    @task
    def dbt_build() -> dict:
        from vigil.pipeline import build_models

        return build_models(_settings(), _run_date())

    extracts = {feed: extract.override(task_id=f"extract_{feed}")(feed) for feed in FEEDS}
    loads = [load.override(task_id=f"load_{feed}")(extracts[feed]) for feed in FEEDS]
    for ld in loads:
        ld.set_upstream(list(extracts.values()))  # nothing loads until every feed has passed
    chain(*loads, audit_raw(), dbt_build())


vigil_nightly()
