"""make demo-urgent: a dismissal event freezes access within seconds (docs/events.md).

On the warehouse `make demo` built: picks an active employee of the last published night who holds
enabled accounts, starts an IAM system that speaks SCIM 2.0 on loopback (scim2-server, holding
those accounts as active users), and runs the real `vigil react` on a dismissal event for that
employee, with a SCIM delivery channel. Then it shows each user as the IAM system now has it
(active: false), the tickets, and the audit trail. Nothing else in the demo is changed: the event
file stays in demo/landing/hr_events/ (the night reconciles it), the tickets in demo/out/tickets/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import duckdb
import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN = "demo-scim-token-0123456789"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def scim_server():
    from scim2_server.memory import InMemoryStorage
    from scim2_server.service import ScimService
    from scim2_server.testserver.application import BearerTokenApplication
    from scim2_server.testserver.cli import ThreadingWSGIServer
    from scim2_server.utils import load_default_provider

    provider = load_default_provider()
    app = BearerTokenApplication(InMemoryStorage(), provider, service=ScimService(provider, secret="s" * 32),
                                 bearer_tokens=[TOKEN])
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/v2"


def main() -> int:
    demo = Path(os.environ.get("DEMO", "demo"))
    warehouse = demo / "warehouse" / "vigil.duckdb"
    if not warehouse.exists():
        print(f"no demo warehouse at {warehouse}: run `make demo` first", file=sys.stderr)
        return 2
    with duckdb.connect(str(warehouse), read_only=True) as con:
        night = con.execute("SELECT max(run_date) FROM audit.audit_log WHERE event = 'published'").fetchone()[0]
        employee, accounts = con.execute(
            "SELECT a.employee_id, list(a.account_id ORDER BY a.system, a.account_id) FROM raw.iam__accounts a "
            "JOIN raw.hr__employees e ON e.employee_id = a.employee_id AND e._feed_date = a._feed_date "
            "WHERE a._feed_date = ? AND a.status = 'enabled' AND e.status = 'active' "
            "GROUP BY a.employee_id HAVING count(*) BETWEEN 2 AND 10 ORDER BY count(*) DESC, a.employee_id LIMIT 1",
            [night]).fetchone()
    server, base_url = scim_server()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
    with httpx.Client(base_url=base_url, headers=headers) as c:
        users = {a: c.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": a,
                                           "externalId": a, "active": True}).json()["id"] for a in accounts}
    work = demo / "out" / "urgent-demo"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "delivery.scim.yml"
    config.write_text(yaml.safe_dump({"version": 1, "channels": {"iam": {"type": "scim", "base_url": base_url,
                                                                         "token_env": "DEMO_SCIM_TOKEN"}},
                                      "default": "iam"}))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    event = {"event_id": f"demo-dismissal-{employee}-{stamp}", "kind": "dismissal", "employee_id": employee,
             "effective_at": now.isoformat().replace("+00:00", "Z"),
             "reported_at": now.isoformat().replace("+00:00", "Z"), "source": "make-demo-urgent"}
    file = work / f"{event['event_id']}.json"
    file.write_text(json.dumps(event, indent=1) + "\n")
    print(f"The last published night is {night}. Employee {employee} holds {len(accounts)} enabled accounts: "
          f"{', '.join(accounts)}")
    print(f"HR reports a dismissal now ({event['effective_at']}): {file}\n")
    print(f"$ vigil react {file}")
    t0 = time.perf_counter()
    done = subprocess.run([str(BIN / "vigil"), "react", str(file), "--demo", "--landing", str(demo / "landing"),
                           "--warehouse", str(warehouse), "--out", str(demo / "out"), "--delivery-config", str(config)],
                          env=dict(os.environ, DEMO_SCIM_TOKEN=TOKEN), text=True)
    seconds = time.perf_counter() - t0
    print(f"\nThe IAM system (SCIM 2.0 on {base_url}) now says:")
    with httpx.Client(base_url=base_url, headers=headers) as c:
        states = {a: c.get(f"/Users/{i}").json().get("active") for a, i in users.items()}
    for a, active in states.items():
        print(f"  {a}: active={str(active).lower()}")
    frozen = all(v is False for v in states.values())
    print(f"\n{'✓' if frozen else '✗'} access {'frozen' if frozen else 'NOT frozen'} {seconds:.1f} s after HR "
          f"reported the dismissal (vigil react exit {done.returncode}); without the event the next night would "
          f"have acted, at {now.date() + dt.timedelta(days=1)} 00:00 UTC")
    print(f"  tickets: {demo / 'out' / 'tickets' / now.date().isoformat() / 'revocations.jsonl'}")
    print(f"  the record of truth: {demo / 'landing' / 'hr_events' / file.name}")
    print(f"  the audit trail: SELECT event, occurred_at, outcome FROM audit.audit_log WHERE subject = '{employee}' "
          f"ORDER BY occurred_at")
    server.shutdown()
    return 0 if frozen and done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
