"""The nightly benchmark at the small scale, run as the docs say (python benchmarks/nightly_bench.py): a smoke run.
The tiny scale cannot be used: its planted leavers are a quarter of the staff, so the revocation
breaker holds night 1, as it should.

Behaviour only, never timings: three nights (--nights 3: the third shows a night with more history
behind it) run and publish, every stage is measured with its rows,
the floor reads every row of the night's files, delivery reached the SCIM server once per change,
and the results land where the caller said (JSON and the Markdown section), not in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.ingest.contract import FEEDS, OPTIONAL_FEEDS, TABLES_BY_FEED

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STAGES = ("extract", "freshness", "load", "gates", "dbt build", "breakers+publish", "tickets", "delivery", "report")
DATA_STAGES = ("extract", "load", "gates", "dbt build", "breakers+publish")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    docs = REPO / "docs" / "benchmarks.md"
    before = docs.read_bytes() if docs.exists() else None
    code = subprocess.run([sys.executable, "benchmarks/nightly_bench.py", "--scale", "small", "--work", str(tmp / "work"),
                           "--json", str(tmp / "bench.json"), "--markdown", str(tmp / "benchmarks.md"), "--nights", "3"],
                          cwd=REPO).returncode
    after = docs.read_bytes() if docs.exists() else None
    return {"code": code, "result": json.loads((tmp / "bench.json").read_text()),
            "markdown": (tmp / "benchmarks.md").read_text(), "docs_unchanged": before == after, "work": tmp / "work"}


def test_the_command_succeeds_and_leaves_the_real_docs_alone(bench):
    assert bench["code"] == 0
    assert bench["docs_unchanged"]


def test_every_night_ran_and_published(bench):
    nights = bench["result"]["nights"]
    assert [n["night"] for n in nights] == [1, 2, 3]
    assert [n["status"] for n in nights] == ["published"] * 3
    assert nights[0]["date"] < nights[1]["date"] < nights[2]["date"]
    # the third night is compared with the second: the same kind of night with one more behind it
    assert bench["result"]["ratios"]["night3_over_night2"] > 0
    assert bench["result"]["ratios"]["night3_over_night2_dbt"] > 0


def test_every_stage_is_timed_with_rows_and_memory(bench):
    for night in bench["result"]["nights"]:
        assert list(night["stages"])[: len(STAGES)] == list(STAGES)
        for name in STAGES:
            st = night["stages"][name]
            assert st["seconds"] > 0, (night["night"], name)
            assert st["peak_rss_bytes"] > 0, (night["night"], name)
        for name in DATA_STAGES:
            assert night["stages"][name]["rows"] == night["feed_rows"] > 0
            assert night["stages"][name]["rows_per_second"] > 0
        gates = night["stages"]["gates"]
        assert gates["raw_expectations"] > 0 and gates["publish_expectations"] > 0
        assert gates["rows_per_second_per_expectation"] > 0
        # the whole pipeline is the sum of its steps, and the stages partition the steps
        assert night["pipeline_seconds"] == pytest.approx(sum(s["seconds"] for s in night["steps"]), abs=0.01)
        assert sum(st["seconds"] for st in night["stages"].values()) == pytest.approx(night["pipeline_seconds"], abs=0.01)


def test_night_two_reads_its_own_delivery(bench):
    r = bench["result"]
    n1, n2, _ = r["nights"]
    assert n1["feed_rows"] == r["feeds"][n1["date"]]["rows"]
    assert n2["feed_rows"] == r["feeds"][n2["date"]]["rows"]
    assert n1["feed_rows"] != n2["feed_rows"]  # day 2 delivers only new/changed complaints and that day's logins
    assert r["ratios"]["night2_over_night1"] > 0


REQUIRED_TABLES = sum(len(TABLES_BY_FEED[f]) for f in FEEDS if f not in OPTIONAL_FEEDS)


def test_the_floor_reads_every_row_of_every_file(bench):
    r = bench["result"]
    for date, floor in r["floor"].items():
        assert floor["seconds"] > 0
        assert floor["rows"] == r["feeds"][date]["rows"]  # what the manifests say the files hold
        # every file the manifests list: each required feed's tables, and the optional ones the demo sends
        # (the incident register every night, the ITSM's case events on its last)
        assert len(floor["per_file_seconds"]) == r["feeds"][date]["files"] >= REQUIRED_TABLES
    assert r["ratios"]["night1_pipeline_over_floor"] > 1


def test_tickets_reached_the_scim_server_once_each(bench):
    r = bench["result"]
    delivery = [n["stages"]["delivery"] for n in r["nights"]]
    assert delivery[0]["rows"] > 0  # the planted leavers' tickets of night 1
    assert all(set(d["outbox"]) <= {"delivered"} for d in delivery)
    assert r["scim"]["writes"] > 0 and r["scim"]["max_writes_per_resource"] == 1


def test_the_review_pack_is_measured(bench):
    pack = bench["result"]["review_pack"]
    assert pack["seconds"] > 0 and pack["rows"] > 0 and pack["pages"] > 0


def test_the_markdown_section_describes_the_machine_and_every_stage(bench):
    md, m = bench["markdown"], bench["result"]["machine"]
    assert md.startswith("# Benchmarks")  # a new file gets the introduction first
    assert "### small on duckdb" in md
    assert f"{m['cores']} cores" in md and f"DuckDB {m['duckdb']}" in md and f"Python {m['python']}" in md
    for name in STAGES:
        assert f"| {name} |" in md
    assert "| floor (DuckDB reads each file once) |" in md
    assert "| night 2 <= 20% of night 1 |" in md
    assert "Every night, whole pipeline / dbt build (s): 1: " in md


def test_the_work_folder_is_kept_and_no_pii_reaches_the_results(bench):
    # --work is the caller's folder: its feeds stay, so a rerun reuses them
    assert (bench["work"] / "landing" / "_demo" / "planted.json").exists()
    text = json.dumps(bench["result"]) + bench["markdown"]
    for canary in ("CANARY-NID", "Canary-000", "7700 900", "canary-0001"):  # the demo's planted PII
        assert canary.lower() not in text.lower()
