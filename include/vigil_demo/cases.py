"""The demo bank's ITSM export: events on Vigil's cases coming back (docs/cases.md, docs/demo-data.md).

On the last demo day L the ITSM acknowledges every case of the planted orphan accounts that are
still enabled (their cases are open on L, opened on or before it), and claims the first one
resolved although the account stays enabled: Vigil shows it ``resolved_claimed``, not closed. It
also logs a ``contacted`` event (reached, by phone, L 09:30 UTC) on the complainant_handling case of
the planted on-time key complainant (``key_complainant_on_time``, opened on the first night): a
contact through the ITSM next to the complaints system's contact log, on time. The case ids are
computed the way dbt computes them (``'VCS-' + md5(kind|subject_type|subject_id)``), so the export
names real cases without reading the warehouse.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path

from vigil.ingest.contract import table

EVENTS = table("cases", "case_events")


def case_id(kind: str, subject_type: str, subject_id: str, opening_key: str | None = None) -> str:
    key = "|".join([kind, subject_type, subject_id, *([opening_key] if opening_key else [])])
    return "VCS-" + hashlib.md5(key.encode("utf-8")).hexdigest()


def write_case_events(landing: Path, start: date, days: int, planted: dict) -> dict:
    """Write <landing>/cases/<L>/case_events.csv (+ manifest); returns what planted.json records."""
    last = start + timedelta(days=days - 1)
    orphans = sorted(planted.get("cases", {}).get("orphan_accounts", []), key=lambda o: (o["system"], o["account_id"]))
    on_time = planted.get("cases", {}).get("key_complainant_on_time", [])
    if not orphans and not on_time:
        return {}
    rows, ids, contacted = [], [], []
    for i, o in enumerate(orphans):
        cid = case_id("orphan_account", "account", f"{o['system']}:{o['account_id']}")
        ids.append(cid)
        rows.append(dict(event_id=f"DEMO-{i:03d}-ACK", case_id=cid, itsm_ref=f"INC{9000 + i}", event="acknowledged",
                         event_at=f"{last.isoformat()}T08:00:00Z", outcome="", channel=""))
    if orphans:
        # named by the ITSM's reference only: Vigil resolves it through the acknowledgement above
        rows.append(dict(event_id="DEMO-000-RES", case_id="", itsm_ref="INC9000", event="resolved",
                         event_at=f"{last.isoformat()}T11:00:00Z", outcome="account_disabled", channel=""))
    for i, person in enumerate(on_time):  # the handler reached the key complainant: a contact via the ITSM
        cid = case_id("complainant_handling", "complainant", person["person_key"])
        contacted.append({"case_id": cid, "person_key": person["person_key"], "date": last.isoformat()})
        rows.append(dict(event_id=f"DEMO-KC{i:02d}-CONTACT", case_id=cid, itsm_ref=f"INC{9500 + i}", event="contacted",
                         event_at=f"{last.isoformat()}T09:30:00Z", outcome="reached", channel="phone"))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EVENTS.column_names)
    for r in rows:
        w.writerow([r.get(c, "") for c in EVENTS.column_names])
    data = buf.getvalue().encode("utf-8")
    folder = Path(landing) / "cases" / last.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case_events.csv").write_bytes(data)
    manifest = {"feed": "cases", "date": last.isoformat(),
                "files": {"case_events.csv": {"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}}}
    (folder / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {"file": f"cases/{last.isoformat()}/case_events.csv", "acknowledged": ids, "resolved_claimed": ids[:1],
            "contacted": contacted}
