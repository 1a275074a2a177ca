"""`vigil react` is the same-day path's on-demand command, with a 5 s budget from the event to the
SCIM PATCH accepted (docs/benchmarks.md): most of a fresh process's time was importing libraries
it does not need. A real react run, in a fresh process, must not import the data platform's heavy
libraries (Great Expectations, dbt, pandas, Airflow), nor scim2-models/pydantic (the SCIM payloads
are written out, vigil.actions.tickets.channels.scim), nor jsonschema for a valid event, nor httpx's
command-line client (click, pygments: vigil.actions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fixtures.events import build_estate, event, write_event
from fixtures.tickets import ScimServer, write_config

TOKEN = "scim-test-token-0123456789"
HEAVY = ("great_expectations", "dbt", "pandas", "airflow", "scim2_models", "pydantic", "jsonschema",
         "click", "pygments")  # the last two: httpx's command-line client (vigil.actions)

SCRIPT = """
import json, sys
from vigil.cli import main
code = main(sys.argv[1:])
loaded = sorted({m.split('.')[0] for m in sys.modules} & set(%r))
print("RESULT " + json.dumps({"code": code, "loaded": loaded}))
""" % (HEAVY,)


def run_react(args: list[str], env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, "react", *args], capture_output=True, text=True, env=env,
                          timeout=120)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, done.stdout + done.stderr
    return {**json.loads(lines[-1][len("RESULT "):]), "out": done.stdout, "err": done.stderr}


def test_vigil_react_freezes_access_without_importing_the_heavy_libraries(tmp_path):
    wh = str(tmp_path / "wh" / "vigil.duckdb")
    build_estate(wh)
    env = {**os.environ, "TEST_SCIM_TOKEN": TOKEN}
    with ScimServer(token=TOKEN) as scim:
        ids = [scim.add_user(a) for a in ("ad-100", "pay-100")]
        config = write_config(tmp_path / "delivery.yml", {
            "version": 1, "defaults": {"max_attempts": 3, "backoff_base_seconds": 0.01, "timeout_seconds": 5},
            "channels": {"iam_scim": {"type": "scim", "base_url": scim.base_url, "token_env": "TEST_SCIM_TOKEN"}},
            "default": "iam_scim"})
        file = write_event(tmp_path / "from-hr", event("imp-1", "dismissal", "E100"))
        got = run_react([str(file), "--landing", str(tmp_path / "landing"), "--warehouse", wh,
                         "--out", str(tmp_path / "out"), "--delivery-config", str(config)], env)
        assert got["code"] == 0, got["out"] + got["err"]
        assert all(scim.user(i)["active"] is False for i in ids)  # the run really went to the SCIM PATCH
    assert got["loaded"] == []


def test_a_bad_event_still_gets_its_schema_error(tmp_path):
    # the quick check is only a shortcut: a bad event is checked by jsonschema, which names the rule
    wh = str(tmp_path / "wh" / "vigil.duckdb")
    build_estate(wh)
    bad = dict(event("imp-2", "dismissal", "E100"), full_name="x")
    file = write_event(tmp_path / "from-hr", bad)
    got = run_react([str(file), "--landing", str(tmp_path / "landing"), "--warehouse", wh,
                     "--out", str(tmp_path / "out")], dict(os.environ))
    assert got["code"] == 1 and "unknown field(s) full_name" in got["err"]
    assert got["loaded"] == ["jsonschema"]
