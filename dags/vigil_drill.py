"""
### Vigil drill

Plans the monthly **drill** (docs/drills.md): a marked synthetic leaver (`DRILL-` ids, no PII) that
the next `vigil_nightly` run injects into its raw HR and IAM rows and takes through the real rules,
tickets, cases and alerts, timing each step; or (param `kind` = `incident`) a marked synthetic severe
incident injected into its raw incident register and taken through the incident case and the
severe-incident alert. The departure plan asks for regular drills that test "the plan's
practicality and speed"; the customer-service emergency plan for drills of the incident response.

```
plan_drill
```

* Scheduled at 12:00 UTC on the first day of each month: it writes
  `<VIGIL_LANDING>/drills/<D>/drill.json` for D = the run's date, the night `vigil_nightly` runs
  at 00:00 UTC the next day. Params: `kind` (`leaver`, the default, or `incident`) and `system`
  (a leaver drill's synthetic account's IAM system, default `AD`).
* A drill never touches production systems: its tickets and cases go only to the delivery
  configuration's `drill:` channels, else to the dry-run sink `<VIGIL_OUT>/drills/sink/`; its
  alerts only to the alerting configuration's `drill:` teams, else to the same sink.
* The night's last task (`follow_drill`) records the timings (`<VIGIL_OUT>/drills/<D>/result.json`
  and the audit log); the quarterly review pack shows them in its Drills table. Drills never count
  in a KPI.
* A drill already planned for the night fails the task without a retry (nothing is overwritten).

Logic lives in `vigil.ingest.drills` (the `include/` folder); this file only wires it.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task


@dag(
    dag_id="vigil_drill",
    schedule=CronDataIntervalTimetable("0 12 1 * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "vigil", "retries": 2, "retry_delay": dt.timedelta(minutes=10)},
    params={"kind": Param("leaver", type="string", enum=["leaver", "incident"],
                          description="leaver (a synthetic leaver) or incident (a synthetic severe incident)"),
            "system": Param("AD", type="string", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$",
                            description="the IAM system of a leaver drill's synthetic account")},
    tags=["vigil", "monthly", "drill"],
    doc_md=__doc__,
)
def vigil_drill():
    @task
    def plan_drill() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from vigil.config import Settings
        from vigil.ingest.drills import new_drill, write_drill

        context = get_current_context()
        now = dt.datetime.now(dt.timezone.utc)
        night = (context.get("data_interval_end") or now).date()
        params = context.get("params") or {}
        drill = new_drill(night, now=now, system=params.get("system") or "AD", kind=params.get("kind") or "leaver")
        try:
            path = write_drill(Settings.from_env().landing, drill)
        except FileExistsError as exc:  # a drill is already planned for the night: retrying won't help
            raise AirflowFailException(str(exc)) from exc
        return {"drill_id": drill.drill_id, "night": night.isoformat(), "file": str(path)}

    plan_drill()


vigil_drill()
