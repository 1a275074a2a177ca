"""Alert delivery against real servers on loopback: an aiosmtpd SMTP server (messages read back)
and an HTTP server standing in for Slack / Teams webhooks (payloads checked against a JSON schema
written here, independently of vigil.actions.alerts.render). Also: storm collapse at its threshold and one
more, retries, configuration rules, the pipeline alert builders, and no PII or secret anywhere.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import logging
import socket
from pathlib import Path

import jsonschema
import pytest
import yaml

from fixtures.nights import REPO, raw_pii_values
from fixtures.servers import WebhookSink
from vigil.actions.alerts import (
    Alert,
    alerts_path,
    breaker_hold_alert,
    data_quality_alert,
    dead_letter_alert,
    derive_alerts,
    dispatch_alerts,
    load_config,
)
from vigil.config import ConfigError
from vigil.store.warehouse import Warehouse

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

D = dt.date(2026, 3, 6)
SMTP_USER, SMTP_PASSWORD = "vigil-relay", "s3cret-smtp-password-for-tests"
WEBHOOK_TOKEN = "T000-B000-XXXXXXXXsecretwebhooktoken"

# --------------------------------------------------------------------------- servers on loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it accepted; AUTH LOGIN/PLAIN."""

    def __init__(self, port: int | None = None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[dict] = []
        self.logins: list[tuple[str, str]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                      "data": bytes(envelope.original_content or envelope.content)})
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            sink.logins.append((login, password))
            return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD))

        self.port = port or _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     auth_require_tls=False, auth_required=True)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def parsed(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(m["data"], policy=email.policy.default) for m in self.messages]


# Independent schemas of what Slack incoming webhooks (Block Kit) and Teams workflows (Adaptive
# Card in a message) accept, restricted to the parts Vigil must get right.
SLACK = {
    "type": "object", "required": ["text", "blocks"], "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 40000},
        "blocks": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"oneOf": [
            {"type": "object", "required": ["type", "text"], "additionalProperties": False,
             "properties": {"type": {"const": "header"},
                            "text": {"type": "object", "required": ["type", "text"],
                                     "properties": {"type": {"const": "plain_text"},
                                                    "text": {"type": "string", "minLength": 1, "maxLength": 150}}}}},
            {"type": "object", "required": ["type", "text"], "additionalProperties": False,
             "properties": {"type": {"const": "section"},
                            "text": {"type": "object", "required": ["type", "text"],
                                     "properties": {"type": {"enum": ["mrkdwn", "plain_text"]},
                                                    "text": {"type": "string", "minLength": 1, "maxLength": 3000}}}}},
            {"type": "object", "required": ["type", "elements"], "additionalProperties": False,
             "properties": {"type": {"const": "context"},
                            "elements": {"type": "array", "minItems": 1, "maxItems": 10,
                                         "items": {"type": "object", "required": ["type", "text"],
                                                   "properties": {"type": {"enum": ["mrkdwn", "plain_text"]},
                                                                  "text": {"type": "string"}}}}}},
        ]}},
    },
}
TEAMS = {
    "type": "object", "required": ["type", "attachments"],
    "properties": {
        "type": {"const": "message"},
        "attachments": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "required": ["contentType", "content"],
            "properties": {
                "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                "content": {"type": "object", "required": ["type", "version", "body"], "properties": {
                    "type": {"const": "AdaptiveCard"},
                    "version": {"type": "string", "pattern": r"^1\.[0-5]$"},
                    "body": {"type": "array", "minItems": 1, "items": {"oneOf": [
                        {"type": "object", "required": ["type", "text"],
                         "properties": {"type": {"const": "TextBlock"}, "text": {"type": "string", "minLength": 1}}},
                        {"type": "object", "required": ["type", "facts"],
                         "properties": {"type": {"const": "FactSet"}, "facts": {"type": "array", "items": {
                             "type": "object", "required": ["title", "value"], "additionalProperties": False,
                             "properties": {"title": {"type": "string"}, "value": {"type": "string"}}}}}},
                    ]}},
                }},
            },
        }},
    },
}


# --------------------------------------------------------------------------- helpers


def _config(tmp_path: Path, smtp_port: int, webhook_url: str | None, monkeypatch, *, storm: dict | None = None,
            routing: dict | None = None) -> Path:
    monkeypatch.setenv("TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    teams = {
        "access-security": {"email": ["iam-security@bank.test", "soc@bank.test"]},
        "complaints": {"email": ["complaints@bank.test"]},
        "hr-risk": {"email": ["hr-risk@bank.test"]},
        "data-platform": {"email": ["vigil-ops@bank.test"]},
    }
    if webhook_url:
        monkeypatch.setenv("TEST_HOOK_ACCESS", f"{webhook_url}/slack/{WEBHOOK_TOKEN}")
        monkeypatch.setenv("TEST_HOOK_COMPLAINTS", f"{webhook_url}/teams/{WEBHOOK_TOKEN}")
        teams["access-security"]["webhook"] = {"url_env": "TEST_HOOK_ACCESS", "format": "slack"}
        teams["complaints"]["webhook"] = {"url_env": "TEST_HOOK_COMPLAINTS", "format": "teams"}
    data = {
        "version": 1,
        "storm": storm or {"threshold": 20},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "from": "vigil@bank.test",
                 "username_env": "TEST_SMTP_USER", "password_env": "TEST_SMTP_PASSWORD", "timeout_seconds": 10},
        "teams": teams,
        "routing": routing or {
            "post_termination_login": ["access-security"],
            "handover_overdue": ["hr-risk", "access-security"],
            "departure_risk_high": ["hr-risk"],
            "complainant_tier_up": ["complaints"],
            "complaint_surge": ["complaints"],
            "complaint_deadline_breach": ["complaints"],
            "default": ["data-platform"],
        },
    }
    path = tmp_path / "alerting.yml"
    path.write_text(yaml.safe_dump(data))
    return path



def _pipeline_alerts(run_id: str) -> list[Alert]:
    from vigil.gates.breakers import decide

    decision = decide(D, today_active=100, yesterday_active=130, yesterday_date=D - dt.timedelta(days=1),
                      planned=[("pub_leaver_access_exposure", f"E{i:07d}", "AD", f"ad-{i}") for i in range(12)])
    failures = [{"suite": "raw.hr__employees.critical", "table": "hr__employees", "expectation": "not_null:employee_id",
                 "check": "not_null", "unexpected_count": 3, "element_count": 150, "observed": None, "error": None,
                 "layer": "raw"}]
    return [breaker_hold_alert(decision.to_dict(), run_id), data_quality_alert(failures, D, run_id),
            dead_letter_alert(["AL-01:AD:ad-1", "AL-01:CRM:crm-9"], D, run_id, {"dead_lettered": 2})]


def _ledger_rows(url: str) -> list[tuple]:
    wh = Warehouse.open(url)
    with wh.connection() as con:
        return wh.fetchall(con, "SELECT alert_id, status, collapsed_into, teams, destinations, payload "
                                 "FROM audit.alerts_sent ORDER BY alert_id")


def _deliveries(url: str) -> list[tuple]:
    wh = Warehouse.open(url)
    with wh.connection() as con:
        return wh.fetchall(con, "SELECT alert_id, team, channel FROM audit.alert_deliveries ORDER BY 1, 2, 3")


def _parts(msg) -> dict[str, str]:
    return {p.get_content_type(): p.get_content() for p in msg.iter_parts()}


# --------------------------------------------------------------------------- the round trip


def test_one_digest_per_team_and_chat_messages_no_pii(demo_warehouse, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="vigil")
    ledger_url = str(tmp_path / "ledger.duckdb")
    out = tmp_path / "out"
    alerts = derive_alerts(demo_warehouse.settings.warehouse, D, "run-1") + _pipeline_alerts("run-1")
    kinds = {a.kind for a in alerts}
    assert {"post_termination_login", "handover_overdue", "complaint_surge", "breaker_hold",
            "data_quality_failure", "tickets_dead_lettered"} <= kinds
    with SmtpSink() as smtp, WebhookSink() as hook:
        config = _config(tmp_path, smtp.port, hook.url, monkeypatch)
        result = dispatch_alerts(ledger_url, alerts, run_date=D, run_id="run-1", out=out, config_path=config)
        cfg = load_config(config)
        expected = {}
        for a in alerts:
            for team in cfg.teams_for(a.kind):
                expected.setdefault(team.name, set()).add(a.alert_id)
        assert result["failed"] == 0 and result["warnings"] == []
        assert result["emails"] == len(expected) == len(smtp.messages) == 4
        assert result["delivered"] == result["new"] == len(alerts)
        # one digest per team, to exactly the team's addresses, HTML and text, every alert routed there
        by_team = {}
        for raw, msg in zip(smtp.messages, smtp.parsed()):
            team = msg["X-Vigil-Team"]
            by_team[team] = msg
            assert sorted(raw["to"]) == sorted(cfg.teams[team].email)
            assert raw["from"] == "vigil@bank.test" and msg["To"] == ", ".join(cfg.teams[team].email)
            assert msg.get_content_type() == "multipart/alternative"
            parts = _parts(msg)
            assert set(parts) == {"text/plain", "text/html"}
            assert f"{len(expected[team])} alert" in msg["Subject"] and team in msg["Subject"]
            assert msg["X-Vigil-Alert-Count"] == str(len(expected[team]))
            for a in alerts:
                inside = a.alert_id in parts["text/plain"]
                assert inside == (a.alert_id in expected[team]), (team, a.kind)
                assert inside == (a.alert_id in parts["text/html"])
            assert parts["text/html"].lstrip().startswith("<!DOCTYPE html>")
        assert set(by_team) == set(expected)
        assert smtp.logins and set(smtp.logins) == {(SMTP_USER, SMTP_PASSWORD)}
        # the handover alert went to both of its teams; the breaker hold to the default team
        handover = next(a for a in alerts if a.kind == "handover_overdue")
        assert handover.alert_id in _parts(by_team["hr-risk"])["text/plain"]
        assert handover.alert_id in _parts(by_team["access-security"])["text/plain"]
        hold = next(a for a in alerts if a.kind == "breaker_hold")
        assert hold.alert_id in _parts(by_team["data-platform"])["text/plain"]

        # chat: Slack for access-security, Teams for complaints, schema-valid, the right alerts
        slack = hook.payloads(f"/slack/{WEBHOOK_TOKEN}")
        teams = hook.payloads(f"/teams/{WEBHOOK_TOKEN}")
        assert len(slack) == len(teams) == 1 and result["webhook_messages"] == 2
        assert all(r["content_type"] == "application/json" for r in hook.requests)
        jsonschema.validate(slack[0], SLACK)
        jsonschema.validate(teams[0], TEAMS)
        slack_text = json.dumps(slack[0])
        teams_text = json.dumps(teams[0])
        for a in alerts:
            assert (a.alert_id in slack_text) == (a.alert_id in expected["access-security"])
            assert (a.alert_id in teams_text) == (a.alert_id in expected["complaints"])
        deliveries = _deliveries(ledger_url)
        assert len(deliveries) == sum(len(v) for v in expected.values()) + len(expected["access-security"]) \
            + len(expected["complaints"])

        # a rerun of the night sends nothing
        again = dispatch_alerts(ledger_url, derive_alerts(demo_warehouse.settings.warehouse, D, "run-2")
                                + _pipeline_alerts("run-2"), run_date=D, run_id="run-2", out=out, config_path=config)
        assert again["new"] == again["emails"] == again["webhook_messages"] == again["to_send"] == 0
        assert len(smtp.messages) == 4 and len(hook.requests) == 2

    # no raw PII and no secret anywhere: mails, chat, alerts.jsonl, the ledger, the logs, the counts
    pii = raw_pii_values(demo_warehouse.landing)
    canaries = demo_warehouse.planted["canaries"]
    for c in canaries["national_ids"] + canaries["phones"] + canaries["names"] + canaries["emails"]:
        assert c in pii or any(c in v for v in pii)
    assert len(pii) > 100
    outputs = {
        "smtp": b"\n".join(m["data"] for m in smtp.messages).decode("utf-8", "replace")
        + "\n".join(p for msg in smtp.parsed() for p in _parts(msg).values()),
        "chat": "\n".join(r["body"].decode() for r in hook.requests),
        "jsonl": alerts_path(out, D).read_text(encoding="utf-8"),
        "ledger": json.dumps(_ledger_rows(ledger_url), default=str, ensure_ascii=False),
        "logs": caplog.text,
        "counts": json.dumps([result, again]),
    }
    for where, text in outputs.items():
        assert text
        leaked = sorted(v for v in pii if v in text)
        assert leaked == [], where
        for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN):
            assert secret not in text, where


def test_storm_collapse_at_threshold_and_threshold_plus_one(tmp_path, monkeypatch):
    ledger_url = str(tmp_path / "ledger.duckdb")
    out = tmp_path / "out"

    def logins(night: dt.date, n: int, start: int = 0) -> list[Alert]:
        return [Alert.build(kind="post_termination_login", severity="high", subject_type="employee",
                            subject_id=f"E{i:07d}", facts={"system": "AD", "account_id": f"ad-{i}"},
                            identity=f"AL-03:AD:ad-{i}:{night}", run_id=f"run-{night}", run_date=night,
                            title=f"Login by leaver E{i:07d}", rule_id="AL-03")
                for i in range(start, start + n)]

    with SmtpSink() as smtp, WebhookSink() as hook:
        config = _config(tmp_path, smtp.port, hook.url, monkeypatch,
                         storm={"threshold": 50, "per_kind": {"post_termination_login": 3}})
        # exactly the threshold (3): sent one by one, in one digest
        n1 = D - dt.timedelta(days=1)
        r1 = dispatch_alerts(ledger_url, logins(n1, 3), run_date=n1, run_id="r1", out=out, config_path=config)
        assert r1["collapsed"] == r1["summaries"] == 0 and r1["new"] == 3 and r1["emails"] == 1
        assert smtp.parsed()[-1]["X-Vigil-Alert-Count"] == "3"
        assert len(hook.payloads(f"/slack/{WEBHOOK_TOKEN}")[-1]["blocks"]) == 3 + 2  # header, 3 alerts, context
        # one more than the threshold (4): one summary instead
        r2 = dispatch_alerts(ledger_url, logins(D, 4, start=10), run_date=D, run_id="r2", out=out, config_path=config)
        assert r2["new"] == 4 and r2["collapsed"] == 4 and r2["summaries"] == 1 and r2["recorded"] == 5
        assert r2["emails"] == 1 and r2["webhook_messages"] == 1
        digest = smtp.parsed()[-1]
        assert digest["X-Vigil-Alert-Count"] == "1" and digest["X-Vigil-Team"] == "access-security"
        text = _parts(digest)["text/plain"]
        assert "Alert storm: 4 new" in text and "E0000010" in text and "E0000013" in text
        jsonschema.validate(hook.payloads(f"/slack/{WEBHOOK_TOKEN}")[-1], SLACK)
        lines = [json.loads(x) for x in alerts_path(out, D).read_text().splitlines()]
        summary = [x for x in lines if x["kind"] == "alert_storm"]
        members = [x for x in lines if x["kind"] == "post_termination_login"]
        assert len(summary) == 1 and len(members) == 4
        assert summary[0]["facts"]["n_alerts"] == 4 and summary[0]["facts"]["threshold"] == 3
        assert summary[0]["subject_id"] == "post_termination_login" and summary[0]["severity"] == "high"
        assert all(m["status"] == "collapsed" and m["collapsed_into"] == summary[0]["alert_id"] for m in members)
        assert sorted(summary[0]["facts"]["alert_ids"]) == sorted(m["alert_id"] for m in members)
        # a rerun of the stormy night: nothing new, no second summary
        r3 = dispatch_alerts(ledger_url, logins(D, 4, start=10), run_date=D, run_id="r3", out=out, config_path=config)
        assert r3["new"] == r3["summaries"] == r3["emails"] == 0
        # the night before: a 4th alert later that night makes it more than 3 that night: collapsed too
        r4 = dispatch_alerts(ledger_url, logins(n1, 1, start=3), run_date=n1, run_id="r4", out=out, config_path=config)
        assert r4["collapsed"] == 1 and r4["summaries"] == 1
        other = Alert.build(kind="complaint_surge", severity="medium", subject_type="branch", subject_id="B001",
                            facts={"category": "fees"}, identity="CH-02:B001:fees", run_id="r5", run_date=n1,
                            title="Complaint surge at branch B001")
        r5 = dispatch_alerts(ledger_url, [other], run_date=n1, run_id="r5", out=out, config_path=config)
        assert r5["collapsed"] == 0 and r5["new"] == 1  # thresholds are per kind
        assert len(smtp.messages) == 4


def test_failed_channels_stay_owed_and_are_retried_without_duplicates(tmp_path, monkeypatch):
    ledger_url = str(tmp_path / "ledger.duckdb")
    out = tmp_path / "out"
    alerts = _pipeline_alerts("r1") + [
        Alert.build(kind="post_termination_login", severity="critical", subject_type="employee", subject_id="E0000001",
                    facts={"system": "AD"}, identity="AL-03:AD:x", run_id="r1", run_date=D, title="Login by leaver")]
    port = _free_port()  # nothing listens here yet
    with WebhookSink() as hook:
        config = _config(tmp_path, port, hook.url, monkeypatch,
                         routing={"post_termination_login": ["access-security"], "default": ["data-platform"]})
        hook.responses = [(500, {}), (200, {})]  # a 5xx is retried within the dispatch
        first = dispatch_alerts(ledger_url, alerts, run_date=D, run_id="r1", out=out, config_path=config)
        assert first["failed"] == 2 and first["emails"] == 0  # both teams' digests: SMTP down
        assert first["webhook_messages"] == 1 and len(hook.requests) == 2
        assert any("not delivered" in w and "smtp" in w for w in first["warnings"])
        assert not any(SMTP_PASSWORD in w for w in first["warnings"])
        assert first["delivered"] == 0  # the login reached chat but not e-mail: still owed
        with SmtpSink(port) as smtp:
            second = dispatch_alerts(ledger_url, alerts, run_date=D, run_id="r2", out=out, config_path=config)
            assert second["new"] == 0 and second["emails"] == 2 and second["webhook_messages"] == 0
            assert second["failed"] == 0 and second["delivered"] == len(alerts)
            sent_ids = {a.alert_id for a in alerts}
            text = "\n".join(_parts(m)["text/plain"] for m in smtp.parsed())
            assert all(i in text for i in sent_ids)
            third = dispatch_alerts(ledger_url, alerts, run_date=D, run_id="r3", out=out, config_path=config)
            assert third["emails"] == third["webhook_messages"] == third["to_send"] == 0
            assert len(smtp.messages) == 2 and len(hook.requests) == 2
        # a 4xx is not retried; 429 waits for Retry-After and tries again
        login2 = Alert.build(kind="post_termination_login", severity="critical", subject_type="employee",
                             subject_id="E0000002", facts={"system": "AD"}, identity="AL-03:AD:y", run_id="r4",
                             run_date=D, title="Login by leaver")
        hook.responses = [(400, {})]
        with SmtpSink(port):
            fourth = dispatch_alerts(ledger_url, [login2], run_date=D, run_id="r4", out=out, config_path=config)
            assert fourth["failed"] == 1 and fourth["emails"] == 1 and len(hook.requests) == 3
            hook.responses = [(429, {"Retry-After": "0"}), (200, {})]
            fifth = dispatch_alerts(ledger_url, [login2], run_date=D, run_id="r5", out=out, config_path=config)
            assert fifth["webhook_messages"] == 1 and fifth["emails"] == 0 and len(hook.requests) == 5
    # every destination delivered exactly once
    rows = _deliveries(ledger_url)
    assert len(rows) == len(set(rows))
    assert {(r[1], r[2]) for r in rows if r[0] == login2.alert_id} == {("access-security", "email"),
                                                                       ("access-security", "webhook")}


@pytest.mark.postgres
def test_ledger_and_delivery_on_postgres(pg_url, tmp_path, monkeypatch):
    out = tmp_path / "out"
    alerts = _pipeline_alerts("r1")
    with SmtpSink() as smtp:
        config = _config(tmp_path, smtp.port, None, monkeypatch, storm={"threshold": 2})
        first = dispatch_alerts(pg_url, alerts, run_date=D, run_id="r1", out=out, config_path=config)
        assert first["new"] == 3 and first["emails"] == 1 and first["delivered"] == 3
        again = dispatch_alerts(pg_url, alerts, run_date=D, run_id="r2", out=out, config_path=config)
        assert again["new"] == again["emails"] == 0 and len(smtp.messages) == 1
    rows = _ledger_rows(pg_url)
    assert len(rows) == 3 and {r[1] for r in rows} == {"routed"} and {r[3] for r in rows} == {"data-platform"}
    assert len(_deliveries(pg_url)) == 3
    assert len(alerts_path(out, D).read_text().splitlines()) == 3


def test_demo_mode_sends_nothing(tmp_path):
    out = tmp_path / "out"
    result = dispatch_alerts(str(tmp_path / "l.duckdb"), _pipeline_alerts("r1"), run_date=D, run_id="r1", out=out,
                             config_path=None)
    assert result["recorded"] == 3 and result["emails"] == result["webhook_messages"] == result["to_send"] == 0
    assert {r[1] for r in _ledger_rows(str(tmp_path / "l.duckdb"))} == {"recorded"}
    assert len(alerts_path(out, D).read_text().splitlines()) == 3
    assert result["warnings"] == [  # the run output says plainly that nobody was told
        "3 alerts written but not sent: no alerting configuration (--alerting-config or VIGIL_ALERTING_CONFIG)"]
    again = dispatch_alerts(str(tmp_path / "l.duckdb"), _pipeline_alerts("r2"), run_date=D, run_id="r2", out=out,
                            config_path=None)
    assert again["recorded"] == 0 and again["warnings"] == []  # nothing new tonight: nothing to say


# --------------------------------------------------------------------------- configuration


def test_example_configuration_loads_and_routes_every_kind():
    cfg = load_config(REPO / "config" / "alerting.example.yml")
    from vigil.actions.alerts.config import ROUTABLE_KINDS

    assert all(cfg.teams_for(k) for k in ROUTABLE_KINDS)
    assert cfg.threshold_for("post_termination_login") == 10 and cfg.threshold_for("complaint_surge") == 20
    text = (REPO / "config" / "alerting.example.yml").read_text()
    assert "hooks.slack.com" not in text and "password:" not in text


def test_demo_alerts_reach_the_demo_smtp_sink(tmp_path):
    """`make demo` sends its alerts: config/alerting.demo.yml routes every kind to one team, mailed
    through the same aiosmtpd Mailbox sink scripts/demo.sh starts; the digest lands as a file."""
    import subprocess
    import sys
    import time

    from vigil.actions.alerts.config import ROUTABLE_KINDS

    demo_sh = (REPO / "scripts" / "demo.sh").read_text()
    assert "-c aiosmtpd.handlers.Mailbox" in demo_sh and "config/alerting.demo.yml" in demo_sh
    port = _free_port()
    config = tmp_path / "alerting.demo.yml"
    config.write_text((REPO / "config" / "alerting.demo.yml").read_text().replace("@SMTP_PORT@", str(port)))
    assert all(load_config(config).teams_for(k) for k in ROUTABLE_KINDS)
    mail = tmp_path / "mail"
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Mailbox", str(mail)])
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        alert = Alert.build(kind="post_termination_login", severity="high", subject_type="employee",
                            subject_id="E0000001", facts={"system": "AD", "account_id": "ad-1"},
                            identity=f"AL-03:AD:ad-1:{D}", run_id="r1", run_date=D, title="Login by leaver E0000001",
                            rule_id="AL-03")
        result = dispatch_alerts(str(tmp_path / "ledger.duckdb"), [alert], run_date=D, run_id="r1",
                                 out=tmp_path / "out", config_path=config)
        assert result["emails"] == 1 and result["failed"] == 0 and result["unrouted"] == 0
        delivered = list((mail / "new").iterdir())
        assert len(delivered) == 1
        msg = email.message_from_bytes(delivered[0].read_bytes(), policy=email.policy.default)
        assert msg["To"] == "compliance@vigil-demo.test" and msg["X-Vigil-Alert-Count"] == "1"
    finally:
        sink.terminate()
        sink.wait(timeout=10)


@pytest.mark.parametrize("change, message", [
    ({"teams": {"t": {"webhook": {"url": "https://hooks.slack.com/services/T/B/x"}}}}, "unknown keys"),
    ({"teams": {"t": {"webhook": {"format": "slack"}}}}, "url_env or url_conn"),
    ({"teams": {"t": {"webhook": {"url_env": "X", "format": "discord"}}}}, "format"),
    ({"teams": {"t": {}}}, "neither email nor webhook"),
    ({"teams": {"t": {"email": ["not-an-address"]}}}, "not an address"),
    ({"routing": {"no_such_kind": ["t"]}}, "unknown kind"),
    ({"routing": {"breaker_hold": ["nobody"]}}, "unknown team"),
    ({"storm": {"threshold": 0}}, ">= 1"),
    ({"smtp": {"host": "smtp.bank.test", "security": "none", "from": "v@bank.test"}}, "loopback"),
    ({"smtp": {"host": "smtp.bank.test", "password": "x"}}, "unknown keys"),
    ({"smtp": {"host": "smtp.bank.test"}}, "needs from"),
    ({"smtp": None, "teams": {"t": {"email": ["a@bank.test"]}}}, "no smtp section"),
    ({"teams": {"t": {"email": ["a@bank.test"], "escalate_to": "nobody"}}}, "escalate_to names unknown team"),
    ({"teams": {"t": {"email": ["a@bank.test"], "escalate_to": "t"}}}, "escalate_to names itself"),
])
def test_configuration_rules(change, message):
    from vigil.actions.alerts.config import AlertingConfig

    base = {"smtp": {"host": "127.0.0.1", "security": "none", "from": "vigil@bank.test"}, "teams": {"t": {"email": ["a@bank.test"]}},
            "routing": {"default": ["t"]}}
    with pytest.raises(ConfigError, match=message):
        AlertingConfig.from_dict(base | change)


def _case_alert(kind: str, owner_team: str, case_id: str = "CASE-0001") -> Alert:
    return Alert.build(kind=kind, severity="medium", subject_type="case", subject_id=case_id,
                       facts={"owner_team": owner_team, "case_kind": "orphan_account", "due_by": "2026-03-05",
                              "days": 1, "priority": "P2", "alert_key": f"{kind}:{case_id}"},
                       identity=f"{kind}:{case_id}", run_id="r1", run_date=D, title=f"Case {case_id} ({kind})")


def test_case_alerts_go_to_the_owner_team_its_managers_for_an_unverified_claim_else_the_kind_routing(
        tmp_path, monkeypatch):
    """Issue 22 item 6: a case alert reaches the case's owner team (by its slug) when the alerting config
    has that team; a claim the data does not verify goes to the team's escalate_to (its managers); an
    owner team the config does not know falls back to the kind's routing, never to nobody."""
    with SmtpSink() as smtp:
        config = _config(tmp_path, smtp.port, None, monkeypatch,
                         routing={"case_overdue": ["access-security"], "case_claim_unverified": ["access-security"],
                                  "default": ["data-platform"]})
        data = yaml.safe_load(config.read_text())
        data["teams"]["Private_Banking"] = {"email": ["pb-ops@bank.test"], "escalate_to": "pb-heads"}
        data["teams"]["pb-heads"] = {"email": ["pb-heads@bank.test"]}
        config.write_text(yaml.safe_dump(data))
        alerts = [_case_alert("case_overdue", "Private Banking", "CASE-0001"),
                  _case_alert("case_claim_unverified", "Private Banking", "CASE-0002"),
                  _case_alert("case_overdue", "Retail Banking", "CASE-0003"),  # not configured: kind routing
                  _case_alert("case_claim_unverified", "Retail Banking", "CASE-0004")]
        result = dispatch_alerts(str(tmp_path / "l.duckdb"), alerts, run_date=D, run_id="r1", out=tmp_path / "out",
                                 config_path=config)
        assert result["unrouted"] == 0
        teams = {json.loads(r[5])["subject_id"]: r[3] for r in _ledger_rows(str(tmp_path / "l.duckdb"))}
        assert teams == {"CASE-0001": "Private_Banking", "CASE-0002": "pb-heads",
                         "CASE-0003": "access-security", "CASE-0004": "access-security"}
        received = {to: m for m in smtp.messages for to in m["to"]}
        assert set(received) == {"pb-ops@bank.test", "pb-heads@bank.test", "iam-security@bank.test",
                                 "soc@bank.test"}
        assert len(smtp.messages) == 3  # one digest per team
        assert b"CASE-0001" in received["pb-ops@bank.test"]["data"]
        assert b"CASE-0002" not in received["pb-ops@bank.test"]["data"]
        assert b"CASE-0002" in received["pb-heads@bank.test"]["data"]


def test_only_case_alerts_follow_the_owner_team():
    from vigil.actions.alerts.config import AlertingConfig

    cfg = AlertingConfig.from_dict({
        "smtp": {"host": "127.0.0.1", "security": "none", "from": "vigil@bank.test"},
        "teams": {"iam": {"email": ["iam@bank.test"]}, "compliance": {"email": ["c@bank.test"]}},
        "routing": {"default": ["compliance"]}})
    assert [t.name for t in cfg.teams_for("case_overdue", "iam")] == ["iam"]
    assert [t.name for t in cfg.teams_for("case_overdue", "unknown team")] == ["compliance"]
    assert [t.name for t in cfg.teams_for("case_overdue", None)] == ["compliance"]
    assert [t.name for t in cfg.teams_for("case_claim_unverified", "iam")] == ["iam"]  # no escalate_to: itself


def test_webhook_url_must_be_https_unless_loopback(tmp_path, monkeypatch):
    ledger_url = str(tmp_path / "ledger.duckdb")
    with SmtpSink() as smtp:
        config = _config(tmp_path, smtp.port, "http://example.com", monkeypatch,
                         routing={"default": ["access-security"]})
        result = dispatch_alerts(ledger_url, _pipeline_alerts("r1"), run_date=D, run_id="r1", out=tmp_path / "o",
                                 config_path=config)
        assert result["emails"] == 1 and result["webhook_messages"] == 0 and result["failed"] == 1
        assert any("https://" in w for w in result["warnings"])
        assert not any(WEBHOOK_TOKEN in w for w in result["warnings"])  # the URL (a secret) is not echoed
        monkeypatch.delenv("TEST_HOOK_ACCESS")
        again = dispatch_alerts(ledger_url, [], run_date=D, run_id="r2", out=tmp_path / "o", config_path=config)
        assert again["failed"] == 1 and any("TEST_HOOK_ACCESS is not set" in w for w in again["warnings"])


# --------------------------------------------------------------------------- builders


def test_breaker_hold_alert_is_stable_for_the_same_plan():
    from vigil.gates.breakers import decide

    def decision(n: int):
        return decide(D, today_active=100, yesterday_active=100, yesterday_date=D - dt.timedelta(days=1),
                      planned=[("pub_leaver_access_exposure", f"E{i:07d}", "AD", f"ad-{i}") for i in range(n)]).to_dict()

    held = decision(11)  # max(10, 5% of 100) = 10: 11 holds
    assert held["status"] == "hold"
    a, b = breaker_hold_alert(held, "r1"), breaker_hold_alert(decision(11), "r2")
    assert a.alert_id == b.alert_id and a.run_id == "r1" and b.run_id == "r2"
    assert a.kind == "breaker_hold" and a.severity == "critical" and a.subject_id == D.isoformat()
    assert a.facts["planned_revocations"] == 11 and a.facts["revocation_threshold"] == 10
    assert a.facts["reasons"] == held["reasons"]
    assert breaker_hold_alert(decision(12), "r1").alert_id != a.alert_id  # another plan: another alert


def test_data_quality_alert_keeps_counts_never_values():
    from vigil.gates.quality.results import ExpectationOutcome, GateResult, SuiteOutcome

    outcome = ExpectationOutcome(
        suite="raw.complaints__complainants.critical", table="complaints__complainants",
        expectation="pseudonymised:national_id_token", expectation_type="expect_column_values_to_match_regex",
        check="pseudonymised", severity="critical", success=False, element_count=40, unexpected_count=2,
        observed=["CANARY-NID-0001"], partial_unexpected=["CANARY-NID-0001", "+44 7700 900001"])
    other = ExpectationOutcome(
        suite="raw.hr__employees.critical", table="hr__employees", expectation="row_count:rows",
        expectation_type="expect_table_row_count_to_be_between", check="row_count", severity="critical",
        success=False, observed=12)
    result = GateResult(run_id="r", run_date=D, layer="raw", engine="duckdb",
                        suites=[SuiteOutcome("s", "raw", "t", "rel", "critical", False, [outcome, other])])
    from_result = data_quality_alert(result, D, "r1")
    from_objects = data_quality_alert([other, outcome], D, "r2")
    as_pipeline = data_quality_alert([{"suite": e.suite, "table": e.table, "expectation": e.expectation,
                                       "check": e.check, "unexpected_count": e.unexpected_count,
                                       "element_count": e.element_count, "observed": str(e.observed),
                                       "error": e.error, "layer": "raw"} for e in (outcome, other)], D, "r3")
    assert from_result.alert_id == from_objects.alert_id == as_pipeline.alert_id  # order and form do not matter
    failures = {f["expectation"]: f for f in from_result.facts["failures"]}
    assert failures["pseudonymised:national_id_token"]["column"] == "national_id_token"
    assert failures["pseudonymised:national_id_token"]["unexpected_count"] == 2
    assert failures["pseudonymised:national_id_token"]["element_count"] == 40
    assert "column" not in failures["row_count:rows"] and failures["row_count:rows"]["observed"] == 12
    for alert in (from_result, from_objects, as_pipeline):
        text = alert.to_json()
        assert "CANARY" not in text and "7700" not in text
    assert data_quality_alert([other], D, "r1").alert_id != from_result.alert_id
    assert data_quality_alert([other, outcome], D + dt.timedelta(days=1), "r1").alert_id != from_result.alert_id


def test_dead_letter_alert_is_one_per_set_of_tickets():
    a = dead_letter_alert(["T2", "T1"], D, "r1", {"dead_lettered": 2, "note": "x" * 500})
    b = dead_letter_alert([{"ticket_id": "T1"}, {"ticket_id": "T2"}], D + dt.timedelta(days=1), "r2")
    assert a.alert_id == b.alert_id and a.facts["ticket_ids"] == ["T1", "T2"] and a.facts["n_tickets"] == 2
    assert "note" not in a.facts  # long free text in details is dropped
    assert dead_letter_alert(["T1"], D, "r1").alert_id != a.alert_id


def test_free_text_cannot_enter_the_facts():
    narrative = "Dear bank,\nI was charged twice and want my money back."
    with pytest.raises(ValueError, match="not text"):
        Alert.build(kind="complaint_surge", severity="medium", subject_type="branch", subject_id="B1",
                    facts={"note": narrative}, identity="k", run_id="r", run_date=D, title="t")
    with pytest.raises(ValueError, match="not text"):
        Alert.build(kind="complaint_surge", severity="medium", subject_type="branch", subject_id="B1",
                    facts={"note": "x" * 301}, identity="k", run_id="r", run_date=D, title="t")
    ok = Alert.build(kind="complaint_surge", severity="medium", subject_type="branch", subject_id="B1",
                     facts={"note": "x" * 300}, identity="k", run_id="r", run_date=D, title="t")
    assert ok.facts["note"] == "x" * 300


def test_docs_describe_every_kind_and_the_example_config_keys():
    from vigil.actions.alerts import KINDS

    text = (REPO / "docs" / "alerts.md").read_text()
    for kind in KINDS:
        assert f"| `{kind}` |" in text, kind
    example = yaml.safe_load((REPO / "config" / "alerting.example.yml").read_text())
    for key in example["smtp"]:
        assert f"`{key}`" in text or f"`{key.rsplit('_', 1)[0]}_env`" in text, key
