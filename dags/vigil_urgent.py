"""
### Vigil urgent: same-day response to HR events

Event-driven, not polling: the DAG is scheduled on the asset `vigil_hr_events`, whose **watchers run
in the triggerer** (no worker slot waits):

* `hr_events_redis`: the common-messaging `MessageQueueTrigger(scheme="redis+pubsub")` on the
  channel `VIGIL_HR_EVENTS_CHANNEL` (default `vigil.hr_events`), connection `vigil_redis`
  (e.g. `AIRFLOW_CONN_VIGIL_REDIS=redis://127.0.0.1:6379/0`);
* `hr_events_folder`: the standard provider's `DirectoryFileDeleteTrigger` on
  `<VIGIL_LANDING>/hr_events/`, firing on the doorbell file `_READY` the producer touches after writing an
  event file (it deletes only the doorbell, never an event).

Redis pub/sub is not durable, so an event never exists only on the channel: the producer writes
the event file to `<landing>/hr_events/` first (docs/events.md), and the one task, `react`, acts
on **every** event file there not yet acted on, plus any message's event (written to the folder
first). A message lost while the triggerer was down is therefore picked up by the next message,
the next doorbell, or the night (`vigil_nightly`'s `hr_events` task).

Logic lives in `vigil.actions.urgent` (the `include/` folder); this file only wires it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pendulum
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.providers.standard.triggers.file import DirectoryFileDeleteTrigger
from airflow.sdk import Asset, AssetWatcher, dag, get_current_context, task

CHANNEL = os.environ.get("VIGIL_HR_EVENTS_CHANNEL", "vigil.hr_events")
EVENTS_FOLDER = str(Path(os.environ.get("VIGIL_LANDING", "landing")).resolve() / "hr_events")

hr_events = Asset(
    "vigil_hr_events",
    watchers=[
        AssetWatcher(name="hr_events_redis", trigger=MessageQueueTrigger(
            scheme="redis+pubsub", channels=[CHANNEL], redis_conn_id="vigil_redis", poll_interval=0.1)),
        AssetWatcher(name="hr_events_folder", trigger=DirectoryFileDeleteTrigger(
            directory=EVENTS_FOLDER, filename="_READY", poke_interval=2.0)),
    ],
)


def _messages() -> list[str]:
    """The event texts the channel delivered to this run (the folder doorbell carries none)."""
    out = []
    for events in (get_current_context().get("triggering_asset_events") or {}).values():
        for event in events:
            payload = (event.extra or {}).get("payload") or {}
            data = payload.get("data") if isinstance(payload, dict) else None
            if isinstance(data, str) and data.strip().startswith("{"):
                out.append(data)
    return out


@dag(
    dag_id="vigil_urgent",
    schedule=[hr_events],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "vigil", "retries": 2, "retry_delay": dt.timedelta(seconds=10)},
    tags=["vigil", "urgent"],
    doc_md=__doc__,
)
def vigil_urgent():
    @task
    def react() -> dict:
        from vigil.actions.urgent import react_pending
        from vigil.config import Settings

        result = react_pending(Settings.from_env(), messages=_messages(), via="airflow")
        return {k: (len(v) if isinstance(v, list) else v) for k, v in result.items()
                if k not in ("alerts", "delivered")}

    react()


vigil_urgent()
