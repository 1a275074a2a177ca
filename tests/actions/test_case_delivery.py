"""Case delivery on the delivery core (issue 22 item 3, docs/cases.md "Delivery"): a night's
cases.jsonl goes out through signed webhooks in ServiceNow and Jira shape and a file drop,
effectively once per (case_id, revision, channel), against the loopback WebhookConsumer that
verifies Standard Webhooks signatures with its own code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from fixtures.tickets import FAST, WEBHOOK_SECRET, Fault, WebhookConsumer, verify_standard_webhook, write_config
from vigil.actions.cases import CaseFileError, deliver_cases
from vigil.actions.delivery.config import DeliveryConfig
from vigil.config import ConfigError, Settings

D = dt.date(2026, 3, 2)
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def case(n: int, *, revision: int = 1, priority: str = "P2", owner_team: str = "access-review",
         status: str = "open", **extra) -> dict:
    doc = {
        "case_id": "VCS-" + hashlib.sha256(f"case-{n}".encode()).hexdigest()[:32],
        "revision": revision, "kind": "leaver_access", "subject_type": "employee", "subject_id": f"E{n:07d}",
        "owner_team": owner_team, "opened_on": "2026-03-01", "due_by": "2026-03-09", "priority": priority,
        "status": status, "items": [{"item": "revoke AD account", "owner_team": "iam-ops", "status": "open"}],
        "created_at": "2026-03-03T00:10:00Z",
    }
    return doc | extra


def write_cases(out, day: dt.date, docs: list[dict] | list[str]):
    path = out / "cases" / day.isoformat() / "cases.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs))
    return path


@pytest.fixture
def hooks(monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    with WebhookConsumer() as snow, WebhookConsumer() as jira:
        yield snow, jira


def config(tmp_path, snow, jira, **policy):
    return write_config(tmp_path / "delivery.yml", {
        "defaults": dict(FAST, **policy),
        "channels": {
            "snow": {"type": "webhook", "url": snow.url, "secret_env": "TEST_WEBHOOK_SECRET", "format": "servicenow",
                     "assignment_groups": {"access-review": "Access Review"}},
            "jira": {"type": "webhook", "url": jira.url, "secret_env": "TEST_WEBHOOK_SECRET", "format": "jira",
                     "case_project": "FRAUD"},
            "drop": {"type": "filedrop", "root": str(tmp_path / "drops")},
        },
        "default": ["drop"],
        "cases": {"default": ["snow", "drop"], "owner_teams": {"fraud-ops": ["jira"]}},
    })


def settings(tmp_path, cfg=None) -> Settings:
    return Settings(warehouse=str(tmp_path / "wh.duckdb"), out=tmp_path / "out", delivery_config=cfg)


def test_cases_go_out_in_servicenow_and_jira_shape_and_as_files_once(tmp_path, hooks):
    snow, jira = hooks
    docs = [case(1, priority="P1"), case(2, priority="P4"), case(3, owner_team="fraud-ops", priority="P3")]
    write_cases(tmp_path / "out", D, docs)
    s = settings(tmp_path, config(tmp_path, snow, jira))
    result = deliver_cases(s, D, now=NOW)
    assert (result["cases"], result["new_revisions"], result["queued"]) == (3, 3, 5)  # 2 x (snow + drop) + jira
    assert result["delivered"] == 5 and result["dead_lettered"] == [] and result["warnings"] == []
    assert all(r["valid"] and verify_standard_webhook(WEBHOOK_SECRET, r["headers"], r["body"])
               for r in snow.received + jira.received)

    incidents = {b["correlation_id"]: b for b in snow.tickets()}
    assert set(incidents) == {docs[0]["case_id"], docs[1]["case_id"]}
    p1, p4 = incidents[docs[0]["case_id"]], incidents[docs[1]["case_id"]]
    assert (p1["urgency"], p1["impact"], p4["urgency"], p4["impact"]) == ("1", "1", "3", "3")
    assert p1["u_vigil_case"] == docs[0] and p1["u_vigil_revision"] == 1 and p1["u_vigil_status"] == "open"
    assert p1["assignment_group"] == "Access Review" and p1["due_date"] == "2026-03-09 23:59:59"
    assert p1["short_description"] == f"[P1] Compliance case leaver_access: employee {docs[0]['subject_id']}"
    [issue] = jira.tickets()
    assert issue["fields"]["project"] == {"key": "FRAUD"} and issue["fields"]["priority"] == {"name": "Medium"}
    assert issue["fields"]["duedate"] == "2026-03-09" and issue["properties"] == [{"key": "vigil.case", "value": docs[2]}]

    folder = tmp_path / "drops" / "cases" / D.isoformat()
    lines = [json.loads(x) for x in (folder / "cases.jsonl").read_text().splitlines()]
    assert lines == sorted(docs[:2], key=lambda d: d["case_id"])
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / "cases.jsonl").read_bytes()
    assert manifest["files"] == [{"name": "cases.jsonl", "sha256": hashlib.sha256(data).hexdigest(),
                                  "bytes": len(data), "rows": 2}] and manifest["cases"] == 2

    # the same night again: nothing queued, nothing sent, no file touched
    stamp = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = deliver_cases(s, D, now=NOW + dt.timedelta(hours=1))
    assert (again["new_revisions"], again["unchanged"], again["queued"], again["delivered"]) == (0, 3, 0, 0)
    assert len(snow.received) == 2 and len(jira.received) == 1
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamp


def test_a_new_revision_is_a_new_delivery_and_a_changed_one_is_refused(tmp_path, hooks):
    snow, jira = hooks
    s = settings(tmp_path, config(tmp_path, snow, jira))
    write_cases(tmp_path / "out", D, [case(1)])
    deliver_cases(s, D, now=NOW)
    n2 = D + dt.timedelta(days=1)
    write_cases(tmp_path / "out", n2, [case(1, revision=2, status="acknowledged"), case(2)])
    second = deliver_cases(s, n2, now=NOW + dt.timedelta(days=1))
    assert second["new_revisions"] == 2 and second["delivered"] == 4
    c1, c2 = case(1)["case_id"], case(2)["case_id"]
    got = sorted((b["correlation_id"], b["u_vigil_revision"], b["u_vigil_status"]) for b in snow.tickets())
    assert got == sorted([(c1, 1, "open"), (c1, 2, "acknowledged"), (c2, 1, "open")])
    assert len({r["headers"]["webhook-id"] for r in snow.received}) == 3  # revision 2: its own key
    assert (tmp_path / "drops" / "cases" / n2.isoformat() / "cases.jsonl").exists()
    # revision 2 again, but different: refused, never sent
    write_cases(tmp_path / "out", n2, [case(1, revision=2, status="closed_verified"), case(2)])
    third = deliver_cases(s, n2, now=NOW + dt.timedelta(days=1, hours=1))
    assert [r["revision"] for r in third["refused"]] == [2] and third["delivered"] == 0 and len(snow.received) == 3
    assert any("refused" in w for w in third["warnings"])


def test_a_case_the_consumer_rejects_is_dead_lettered_once(tmp_path, hooks):
    snow, jira = hooks
    snow.faults.append(Fault("POST", "/", status=400, body='{"error":"bad field"}', times=10))
    s = settings(tmp_path, config(tmp_path, snow, jira))
    write_cases(tmp_path / "out", D, [case(1)])
    result = deliver_cases(s, D, now=NOW)
    assert result["dead_lettered"] == [case(1)["case_id"]] and result["delivered"] == 1  # the file drop took it
    assert result["dead_letters"][0]["status"] == "400" and result["dead_letters"][0]["target"] == "snow"
    assert result["outbox"] == {"dead_lettered": 1, "delivered": 1} and len(snow.received) == 1
    again = deliver_cases(s, D, now=NOW + dt.timedelta(days=1))
    assert again["dead_lettered"] == [] and len(snow.received) == 1


def test_without_a_configuration_cases_are_kept_and_sent_once_one_exists(tmp_path, hooks):
    snow, jira = hooks
    write_cases(tmp_path / "out", D, [case(1)])
    first = deliver_cases(settings(tmp_path), D, now=NOW)
    assert first["new_revisions"] == 1 and first["queued"] == 0 and first["unrouted"] == [case(1)["case_id"]]
    assert first["warnings"] == ["1 case(s) recorded but not delivered: no delivery configuration"]
    later = deliver_cases(settings(tmp_path, config(tmp_path, snow, jira)), D, now=NOW + dt.timedelta(hours=1))
    assert later["queued"] == 2 and later["delivered"] == 2 and len(snow.effective) == 1


def test_a_night_without_a_cases_file_says_so(tmp_path, hooks):
    snow, jira = hooks
    result = deliver_cases(settings(tmp_path, config(tmp_path, snow, jira)), D, now=NOW)
    assert result["cases"] == 0 and result["file"] is None and "no case documents" in result["warnings"][0]


@pytest.mark.parametrize(("line", "column", "message"), [
    ('{"case_id": "VCS-1",', "21", "not valid JSON"),
    (json.dumps(case(1, priority="P5")), "'priority'", "P1, P2, P3, P4"),
    (json.dumps(case(1, priority="P0")), "'priority'", "P1, P2, P3, P4"),
    (json.dumps(case(1, revision=0)), "'revision'", ">= 1"),
    (json.dumps(case(1, revision=True)), "'revision'", ">= 1"),
    (json.dumps(case(1, case_id="VCS-" + "a" * 31)), "'case_id'", "32"),
    (json.dumps(case(1, case_id="VCS-" + "a" * 33)), "'case_id'", "32"),
    (json.dumps(case(1, status="done")), "'status'", "open"),
    (json.dumps(case(1, owner_team="../etc")), "'owner_team'", "letters"),
    (json.dumps(case(1, items=[{"item": "x"}])), "'items[0]'", "owner_team"),
    (json.dumps({k: v for k, v in case(1).items() if k != "subject_id"}), "'subject_id'", "missing"),
    ("[1, 2]", "1", "one JSON object"),
])
def test_a_bad_line_names_file_line_and_column_and_queues_nothing(tmp_path, hooks, line, column, message):
    snow, jira = hooks
    path = write_cases(tmp_path / "out", D, [json.dumps(case(9)), line])
    with pytest.raises(CaseFileError) as err:
        deliver_cases(settings(tmp_path, config(tmp_path, snow, jira)), D, now=NOW)
    assert str(err.value).startswith(f"{path}, line 2, column {column}: ") and message in str(err.value)
    assert snow.received == [] and not (tmp_path / "wh.duckdb").exists()


def test_the_boundaries_of_a_good_line_pass(tmp_path, hooks):
    snow, jira = hooks
    edge = [case(1, priority="P1", revision=1), case(2, priority="P4", revision=1, due_by="2026-03-09T17:00:00Z",
                                                      items=[])]
    write_cases(tmp_path / "out", D, edge)
    result = deliver_cases(settings(tmp_path, config(tmp_path, snow, jira)), D, now=NOW)
    assert result["cases"] == 2 and result["dead_lettered"] == []
    assert {b["due_date"] for b in snow.tickets()} == {"2026-03-09 23:59:59", "2026-03-09 17:00:00"}


def test_case_routes_in_the_delivery_config_are_checked():
    chans = {"s": {"type": "scim", "base_url": "https://x.example"}, "d": {"type": "filedrop", "path": "x/{run_date}"},
             "w": {"type": "webhook", "url": "https://x.example", "secret_env": "X"}}
    with pytest.raises(ConfigError, match="cases go to webhook or filedrop"):
        DeliveryConfig.from_dict({"channels": chans, "cases": {"default": ["s"]}})
    with pytest.raises(ConfigError, match="unknown channel"):
        DeliveryConfig.from_dict({"channels": chans, "cases": {"owner_teams": {"t": ["nope"]}}})
    with pytest.raises(ConfigError, match="needs {system}"):
        DeliveryConfig.from_dict({"channels": chans, "default": ["d"], "cases": {"default": ["d"]}})
    ok = DeliveryConfig.from_dict({"channels": chans, "cases": {"default": ["d", "w"], "owner_teams": {"t": "w"}}})
    assert [c.name for c in ok.case_channels_for("t")] == ["w"]
    assert [c.name for c in ok.case_channels_for("other")] == ["d", "w"]
    assert DeliveryConfig.from_dict({"channels": chans}).case_channels_for("t") == []


@pytest.mark.postgres
def test_cases_on_postgres_once_per_revision_and_channel(pg_url, tmp_path, hooks):
    snow, jira = hooks
    s = Settings(warehouse=pg_url, out=tmp_path / "out", delivery_config=config(tmp_path, snow, jira))
    write_cases(tmp_path / "out", D, [case(1, priority="P1"), case(2, owner_team="fraud-ops")])
    first = deliver_cases(s, D, now=NOW)
    assert (first["queued"], first["delivered"], first["dead_lettered"]) == (3, 3, [])
    again = deliver_cases(s, D, now=NOW + dt.timedelta(hours=1))
    assert (again["queued"], again["delivered"]) == (0, 0) and first["outbox"] == again["outbox"] == {"delivered": 3}
    assert len(snow.received) == len(jira.received) == 1


@pytest.mark.parametrize("team, ok", [("Private Banking", True), ("Risk & Compliance", True), ("x" * 100, True),
                                      ("x" * 101, False), (" Private", False), ("Private/Banking", False)])
def test_a_business_line_named_by_hr_owns_cases_and_is_routed_by_its_slug(tmp_path, hooks, team, ok):
    """A case owned by the subject's department carries the department as HR names it (spaces and all):
    it is delivered, routed by its slug under cases.owner_teams, and a Jira label never has a space."""
    snow, jira = hooks
    write_cases(tmp_path / "out", D, [case(1, owner_team=team)])
    cfg = write_config(tmp_path / "delivery.yml", {
        "defaults": FAST,
        "channels": {"jira": {"type": "webhook", "url": jira.url, "secret_env": "TEST_WEBHOOK_SECRET", "format": "jira"},
                     "drop": {"type": "filedrop", "root": str(tmp_path / "drops")}},
        "default": ["drop"],
        "cases": {"default": ["drop"], "owner_teams": {"Private_Banking": ["jira"], "Risk_Compliance": ["jira"]}},
    })
    if not ok:
        with pytest.raises(CaseFileError, match="'owner_team'"):
            deliver_cases(settings(tmp_path, cfg), D, now=NOW)
        return
    result = deliver_cases(settings(tmp_path, cfg), D, now=NOW)
    assert result["dead_lettered"] == [] and result["delivered"] == 1
    if team in ("Private Banking", "Risk & Compliance"):
        [issue] = jira.tickets()
        assert issue["fields"]["labels"][-1] == team.replace(" & ", "_").replace(" ", "_")
        assert " " not in "".join(issue["fields"]["labels"])
    else:
        assert jira.tickets() == []  # no route for it: the default (the file drop)
