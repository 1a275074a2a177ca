"""
### Vigil quarterly review pack

Builds the compliance review pack (PDF + XLSX) for the **quarter that just ended**, from the
warehouse's history: KPI scorecard with RAG status and monthly trends, leavers and revocation
timeliness, exceptions, complainant tiers, complaints, access certification per manager,
data-quality summary, methodology and rule versions (docs/review-pack.md).

```
wait_for_quarter_end  ->  build_review_pack
```

* Scheduled at 06:00 UTC on the first day of January, April, July and October; the run's data
  interval is the quarter that ended. A run builds the last quarter that ended before its data
  interval's end (a manual run on 15 April: the first quarter), unless the `quarter` param says.
* `wait_for_quarter_end` waits (reschedule mode, every 30 min, up to 24 h) until the quarter's last
  night is **published** (`vigil_nightly` for D = the quarter's last day passed its gates and
  breakers), so the pack is final, not provisional. A night held by a breaker has to be approved
  first; to build a provisional pack anyway trigger with `require_complete: false`.
* `build_review_pack` writes `<VIGIL_OUT>/reviews/<quarter>/review_pack.pdf` and `.xlsx`.
  Rebuilding a past quarter gives the same numbers (it reads the quarter's slices, never "latest").
* Params: `quarter` (e.g. `2026Q1`, overrides the interval), `viewer_role` (a role listed in
  `VIGIL_REVIEW_IDENTIFIED_ROLES` gets usernames added, in `.../identified-<role>/`),
  `require_complete`.
* Read-only on the warehouse. With DuckDB it cannot open the file while a nightly run writes it:
  the sensor waits and the build task retries.

Logic lives in `vigil.reports` (the `include/` folder); this file only wires it.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task


def _quarter() -> str:
    from vigil.reports import quarter_for_run

    context = get_current_context()
    return quarter_for_run(context.get("data_interval_end"), context.get("logical_date"),
                           (context.get("params") or {}).get("quarter")).label


def _settings():
    from vigil.config import Settings

    return Settings.from_env()


@dag(
    dag_id="vigil_quarterly",
    schedule=CronDataIntervalTimetable("0 6 1 1,4,7,10 *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "vigil",
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=15),
    },
    params={
        "quarter": Param(None, type=["null", "string"], pattern=r"^\d{4}-?[Qq][1-4]$",
                         description="build this quarter (e.g. 2026Q1) instead of the one that just ended"),
        "viewer_role": Param(None, type=["null", "string"],
                             description="a role listed in VIGIL_REVIEW_IDENTIFIED_ROLES sees usernames"),
        "require_complete": Param(True, type="boolean",
                                  description="wait for the quarter's last night to be published"),
    },
    tags=["vigil", "quarterly", "compliance", "review"],
    doc_md=__doc__,
)
def vigil_quarterly():
    @task.sensor(poke_interval=1800, timeout=24 * 3600, mode="reschedule")
    def wait_for_quarter_end() -> bool:
        from vigil.reports import Quarter, last_published_night

        if not (get_current_context().get("params") or {}).get("require_complete", True):
            return True
        quarter = Quarter.parse(_quarter())
        try:
            night = last_published_night(_settings().warehouse_for("transformer"), quarter)
        except Exception as exc:  # e.g. DuckDB locked by tonight's run: look again at the next poke
            print(f"warehouse not readable yet: {type(exc).__name__}: {str(exc)[:200]}")
            return False
        print(f"{quarter.label}: last published night {night}, waiting for {quarter.end}")
        return night is not None and night >= quarter.end

    @task
    def build_review_pack() -> dict:
        from pathlib import Path

        from airflow.sdk.exceptions import AirflowFailException

        from vigil.reports import ReviewDataError
        from vigil.reports import build_review_pack as build

        settings = _settings()
        context = get_current_context()
        try:
            return build(settings.warehouse_for("transformer"), _quarter(), out=Path(settings.out), run_id=context["run_id"],
                         viewer_role=(context.get("params") or {}).get("viewer_role"))
        except (ReviewDataError, ValueError) as exc:  # no data for the quarter, a bad param: retrying won't help
            raise AirflowFailException(str(exc)) from exc

    wait_for_quarter_end() >> build_review_pack()


vigil_quarterly()
