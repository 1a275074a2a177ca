"""Where a drill's tickets, cases and alerts go (docs/drills.md): only to the channels and teams
configured for drills, else the dry-run sink; never to a production IAM system, ITSM or team, with or
without a configuration; a configuration that would mix them is refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from fixtures.servers import WebhookSink
from vigil.actions.alerts import Alert, dispatch_alerts
from vigil.actions.alerts.config import AlertingConfig
from vigil.actions.delivery.config import DRY_RUN_SINK, DeliveryConfig, drill_channels
from vigil.actions.tickets.store import _channels
from vigil.config import ConfigError

D = dt.date(2026, 3, 2)
CHANNELS = {
    "iam": {"type": "scim", "base_url": "https://iam.bank.example/scim/v2", "token_env": "T"},
    "itsm": {"type": "webhook", "url": "https://itsm.bank.example/hook", "secret_env": "S"},
    "drill_hook": {"type": "webhook", "url": "https://drill.bank.example/hook", "secret_env": "S"},
    "drill_drop": {"type": "filedrop", "root": "drill-sink"},
}


def _cfg(**extra) -> DeliveryConfig:
    return DeliveryConfig.from_dict({"channels": CHANNELS, "systems": {"AD": ["iam", "itsm"]}, "default": ["itsm"],
                                     "cases": {"default": ["itsm"]}, **extra})


def _names(channels) -> list[str]:
    return [c.name for c in channels]


def test_a_drill_ticket_goes_to_the_drill_channels_only():
    cfg = _cfg(drill={"channels": ["drill_hook", "drill_drop"]})
    assert _names(_channels(cfg, {"employee_id": "DRILL-E1", "system": "AD"})) == ["drill_hook", "drill_drop"]
    assert _names(_channels(cfg, {"employee_id": "E100", "system": "AD"})) == ["iam", "itsm"]  # production as before
    assert _names(_channels(cfg, {"employee_id": "XDRILL-E1", "system": "AD"})) == ["iam", "itsm"]


@pytest.mark.parametrize("config", ["no drill section", "no configuration"])
def test_without_drill_channels_a_drill_goes_to_the_dry_run_sink_never_production(config):
    cfg = _cfg() if config == "no drill section" else None
    assert _channels(cfg, {"employee_id": "DRILL-E1", "system": "AD"}) == [DRY_RUN_SINK]
    assert drill_channels(cfg) == [DRY_RUN_SINK]
    assert DRY_RUN_SINK.type == "filedrop" and DRY_RUN_SINK.drop_root(Path("/o")) == Path("/o/drills/sink")
    # and production is untouched: unrouted without a configuration, its channels with one
    assert _names(_channels(cfg, {"employee_id": "E100", "system": "AD"})) == ([] if cfg is None else ["iam", "itsm"])


@pytest.mark.parametrize("drill, says", [
    ({"channels": ["iam"]}, "a drill never changes accounts"),        # SCIM: a real IAM system
    ({"channels": ["itsm"]}, "must serve drills only"),               # the production ITSM
    ({"channels": ["nope"]}, "unknown channel"),
    ({"channels": ["drill_hook"], "teams": ["x"]}, "unknown keys"),
    (["drill_hook"], "must be a mapping"),
])
def test_a_drill_section_that_could_reach_production_is_refused(drill, says):
    with pytest.raises(ConfigError, match=says):
        _cfg(drill=drill)


def test_the_dry_run_sinks_name_is_reserved():
    with pytest.raises(ConfigError, match="reserved"):
        DeliveryConfig.from_dict({"channels": {DRY_RUN_SINK.name: {"type": "filedrop"}}})


# --------------------------------------------------------------------------- alerts


def _login(employee_id: str) -> Alert:
    return Alert.build(kind="post_termination_login", severity="critical", subject_type="employee",
                       subject_id=employee_id, facts={"system": "AD"}, identity=f"AL-03:{employee_id}",
                       run_id="r", run_date=D, title=f"Login by leaver {employee_id}", rule_id="AL-03")


def _alerting(tmp_path: Path, url: str, monkeypatch, drill: bool) -> Path:
    monkeypatch.setenv("HOOK_PROD", f"{url}/prod")
    monkeypatch.setenv("HOOK_DRILL", f"{url}/drill")
    teams = {"access-security": {"webhook": {"url_env": "HOOK_PROD"}}}
    data = {"teams": teams, "routing": {"default": ["access-security"]}}
    if drill:
        teams["drill-desk"] = {"webhook": {"url_env": "HOOK_DRILL"}}
        data["drill"] = {"teams": ["drill-desk"]}
    path = tmp_path / "alerting.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_what_counts_as_a_drill_alert():
    from vigil.actions.alerts.dispatch import is_drill_alert

    def alert(subject: str, **facts) -> Alert:
        return Alert.build(kind="case_overdue", severity="high", subject_type="case", subject_id=subject, facts=facts,
                           identity=subject, run_id="r", run_date=D, title="t")

    assert is_drill_alert(alert("DRILL-E1")) and is_drill_alert(alert("VCS-1", is_drill=True))
    assert is_drill_alert(alert("VGL-1", employee_id="DRILL-E1"))  # an overdue drill ticket
    assert not is_drill_alert(alert("VCS-1")) and not is_drill_alert(alert("VCS-1", is_drill=False))
    assert not is_drill_alert(alert("VGL-1", employee_id="E100"))


@pytest.mark.parametrize("drill_team", [True, False])
def test_a_drill_alert_reaches_the_drill_team_or_the_sink_never_a_production_team(tmp_path, monkeypatch, drill_team):
    with WebhookSink() as hooks:
        cfg = _alerting(tmp_path, hooks.url, monkeypatch, drill_team)
        out = tmp_path / "out"
        result = dispatch_alerts(str(tmp_path / "ledger.duckdb"), [_login("E100"), _login("DRILL-E1")], run_date=D,
                                 run_id="r", out=out, config_path=cfg)
    prod = hooks.bodies("/prod")
    assert "E100" in prod and "DRILL-" not in prod  # production got its alert and nothing of the drill
    sink = out / "drills" / "sink" / "alerts" / D.isoformat() / "alerts.jsonl"
    if drill_team:
        assert "DRILL-E1" in hooks.bodies("/drill") and "E100" not in hooks.bodies("/drill")
        assert not sink.exists()
    else:
        assert hooks.bodies("/drill") == ""
        (line,) = sink.read_text().splitlines()
        assert json.loads(line)["subject_id"] == "DRILL-E1" and json.loads(line)["status"] == "drill_sink"
    assert result["unrouted"] == 0 and result["failed"] == 0


@pytest.mark.parametrize("drill, says", [
    ({"teams": ["access-security"]}, "must receive drills only"),
    ({"teams": ["nobody"]}, "unknown team"),
    ({"channels": ["x"]}, "unknown keys"),
])
def test_a_drill_team_that_also_takes_production_alerts_is_refused(drill, says):
    data = {"teams": {"access-security": {"webhook": {"url_env": "X"}}},
            "routing": {"default": ["access-security"]}, "drill": drill}
    with pytest.raises(ConfigError, match=says):
        AlertingConfig.from_dict(data)


# --------------------------------------------------------------------------- cases, without any configuration


def test_without_a_configuration_a_drill_case_is_delivered_to_the_sink_and_a_real_one_stays_unrouted(tmp_path):
    import hashlib

    from vigil.actions.cases import deliver_cases
    from vigil.config import Settings

    def case(subject: str) -> dict:
        return {"case_id": "VCS-" + hashlib.sha256(subject.encode()).hexdigest()[:32], "revision": 1,
                "kind": "leaver", "subject_type": "employee", "subject_id": subject, "owner_team": "hr",
                "opened_on": "2026-03-02", "due_by": "2026-03-03", "priority": "P2", "status": "open",
                "items": [{"item": "access_frozen", "owner_team": "iam", "status": "open"}],
                "created_at": "2026-03-03T00:10:00Z"}

    out = tmp_path / "out"
    path = out / "cases" / D.isoformat() / "cases.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(case("E100")) + "\n" + json.dumps(case("DRILL-E1")) + "\n")
    s = Settings(warehouse=str(tmp_path / "wh.duckdb"), out=out, delivery_config=None, create_warehouse=True)
    result = deliver_cases(s, D)
    assert result["unrouted"] == [case("E100")["case_id"]] and result["delivered"] == 1
    dropped = "".join(p.read_text() for p in (out / "drills" / "sink" / "cases").rglob("*.jsonl"))
    assert "DRILL-E1" in dropped and "E100" not in dropped
