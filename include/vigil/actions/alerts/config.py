"""The alerting configuration: teams, their channels, which kinds go to which team, storm limits.

See config/alerting.example.yml for a commented example. Loaded with `load_config(path)`; a
missing path (None) means demo mode: alerts are written and recorded, nothing is sent.

Secrets never live in the file. ``*_env`` names an environment variable, ``*_conn`` an Airflow
connection (its password field); both are read only when a message is about to be sent:

* SMTP: ``username_env``/``username_conn``, ``password_env``/``password_conn``; ``host`` or
  ``host_env``; ``security: starttls | ssl | none`` (``none``, plain SMTP, only to a loopback host).
* Chat webhooks: the URL is the secret (Slack and Teams embed the token in it): ``url_env`` or
  ``url_conn``; it must be ``https://`` (plain ``http://`` only to a loopback host).

Checked at load (ConfigError otherwise): known keys only, known kinds, teams that exist, at least
one channel per team, addresses that look like addresses, thresholds >= 1.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vigil.actions.alerts.model import ALERT_STORM, CASE_CLAIM_UNVERIFIED, KINDS, SEVERITIES, SEVERITY_RANK
from vigil.actions.delivery.config import resolve_secret, team_slug
from vigil.actions.delivery.http import check_url
from vigil.config import ConfigError, is_loopback

DEFAULT_STORM_THRESHOLD = 20
WEBHOOK_FORMATS = ("slack", "teams")
SECURITIES = ("starttls", "ssl", "none")
ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ROUTABLE_KINDS = tuple(k for k in KINDS if k != ALERT_STORM)  # a summary follows its members' kind


def _unknown(owner: str, data: dict, allowed: set[str]) -> None:
    extra = set(data) - allowed
    if extra:
        raise ConfigError(f"alerting config: unknown keys {sorted(extra)} in {owner}")


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    host_env: str | None = None
    port: int = 587
    security: str = "starttls"
    sender: str = ""
    timeout_seconds: float = 30.0
    secrets: dict = field(default_factory=dict)  # username_env/_conn, password_env/_conn (names only)

    KEYS = {"host", "host_env", "port", "security", "from", "timeout_seconds", "username_env", "username_conn",
            "password_env", "password_conn"}

    @classmethod
    def from_dict(cls, data: dict) -> SmtpSettings:
        if not isinstance(data, dict):
            raise ConfigError("alerting config: smtp must be a mapping")
        _unknown("smtp", data, cls.KEYS)
        if not (data.get("host") or data.get("host_env")):
            raise ConfigError("alerting config: smtp needs host or host_env")
        security = data.get("security", "starttls")
        if security not in SECURITIES:
            raise ConfigError(f"alerting config: smtp.security must be one of {SECURITIES}, not {security!r}")
        sender = data.get("from")
        if not sender:
            raise ConfigError("alerting config: smtp needs from (the sender address of the digests)")
        if not ADDRESS.match(str(sender)):
            raise ConfigError(f"alerting config: smtp.from {sender!r} is not an address")
        s = cls(host=data.get("host"), host_env=data.get("host_env"), port=int(data.get("port", 587)),
                security=security, sender=str(sender), timeout_seconds=float(data.get("timeout_seconds", 30)),
                secrets={k: v for k, v in data.items() if k.startswith(("username_", "password_"))})
        if s.host:
            s.check_host(s.host)
        return s

    def check_host(self, host: str) -> None:
        if self.security == "none" and not is_loopback(host):
            raise ConfigError(f"alerting config: smtp.security 'none' (plain SMTP) only to a loopback host, "
                              f"not {host!r}")

    def resolved_host(self) -> str:
        host = self.host
        if self.host_env:
            host = os.environ.get(self.host_env)
            if not host:
                raise ConfigError(f"smtp: environment variable {self.host_env} is not set")
        self.check_host(host)
        return host

    def credentials(self) -> tuple[str, str] | None:
        user = resolve_secret("smtp", self.secrets, "username", required=False)
        password = resolve_secret("smtp", self.secrets, "password", required=False)
        if bool(user) != bool(password):
            raise ConfigError("smtp: set both username_* and password_*, or neither")
        return (user, password) if user else None


@dataclass(frozen=True)
class Webhook:
    team: str
    format: str = "slack"
    min_severity: str = "low"
    options: dict = field(default_factory=dict)  # url_env / url_conn (names only)
    timeout_seconds: float = 10.0
    max_alerts_per_message: int = 20

    KEYS = {"url_env", "url_conn", "format", "min_severity", "timeout_seconds", "max_alerts_per_message"}

    def url(self) -> str:
        url = resolve_secret(f"team {self.team} webhook", self.options, "url", required=True)
        check_url(f"team {self.team} webhook", url, secret=True)  # the URL holds the token: never echoed
        return url

    def wants(self, severity: str) -> bool:
        return SEVERITY_RANK.get(severity, 9) <= SEVERITY_RANK[self.min_severity]


@dataclass(frozen=True)
class Team:
    name: str
    email: tuple[str, ...] = ()
    webhook: Webhook | None = None
    #: The team a case claimed resolved but not verified escalates to (the owner's managers); None: itself.
    escalate_to: str | None = None

    @property
    def destinations(self) -> tuple[str, ...]:
        """Channel names an alert for this team must reach: 'email' and/or 'webhook'."""
        return (("email",) if self.email else ()) + (("webhook",) if self.webhook else ())


@dataclass(frozen=True)
class AlertingConfig:
    teams: dict[str, Team] = field(default_factory=dict)
    routing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default: tuple[str, ...] = ()
    smtp: SmtpSettings | None = None
    storm_threshold: int = DEFAULT_STORM_THRESHOLD
    storm_per_kind: dict[str, int] = field(default_factory=dict)
    source: str | None = None
    #: teams that receive drills' alerts (``drill: {teams: [...]}``, docs/drills.md); none: the dry-run sink
    drill: tuple[str, ...] = ()

    @property
    def sends(self) -> bool:
        return bool(self.teams)

    def drill_teams(self) -> list[Team]:
        return [self.teams[n] for n in self.drill]

    def teams_for(self, kind: str, owner_team: str | None = None) -> list[Team]:
        """The teams an alert of `kind` goes to. A case alert names its case's owner team: when that team
        (by its slug, ``Private Banking`` -> ``Private_Banking``) is configured, it alone receives the
        alert, and a claim the data does not verify goes to its ``escalate_to`` team; otherwise, and for
        every other alert, the kind's routing."""
        if owner_team is not None:
            owner = self.teams.get(team_slug(owner_team))
            if owner is not None:
                if kind == CASE_CLAIM_UNVERIFIED and owner.escalate_to:
                    return [self.teams[owner.escalate_to]]
                return [owner]
        names = self.routing.get(kind, self.default)
        return [self.teams[n] for n in names]

    def threshold_for(self, kind: str) -> int:
        return self.storm_per_kind.get(kind, self.storm_threshold)

    @classmethod
    def demo(cls) -> AlertingConfig:
        """No file: nothing is sent (alerts are still written and recorded)."""
        return cls()

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> AlertingConfig:
        if not isinstance(data, dict):
            raise ConfigError("alerting config: expected a mapping at the top level")
        _unknown("the top level", data, {"version", "storm", "smtp", "teams", "routing", "drill"})
        storm = data.get("storm") or {}
        _unknown("storm", storm, {"threshold", "per_kind"})
        threshold = int(storm.get("threshold", DEFAULT_STORM_THRESHOLD))
        per_kind = {str(k): int(v) for k, v in (storm.get("per_kind") or {}).items()}
        for kind in per_kind:
            if kind not in ROUTABLE_KINDS:
                raise ConfigError(f"alerting config: storm.per_kind names unknown kind {kind!r}")
        if threshold < 1 or any(v < 1 for v in per_kind.values()):
            raise ConfigError("alerting config: storm thresholds must be >= 1")

        teams: dict[str, Team] = {}
        for name, spec in (data.get("teams") or {}).items():
            name = str(name)
            if not TEAM_NAME.match(name):
                raise ConfigError(f"alerting config: team name {name!r} must be letters, digits, '_', '.', '-'")
            spec = spec or {}
            _unknown(f"team {name}", spec, {"email", "webhook", "escalate_to"})
            emails = spec.get("email") or []
            if isinstance(emails, str):
                emails = [emails]
            for address in emails:
                if not ADDRESS.match(str(address)):
                    raise ConfigError(f"alerting config: team {name}: {address!r} is not an address")
            webhook = None
            if spec.get("webhook"):
                w = spec["webhook"]
                if not isinstance(w, dict):
                    raise ConfigError(f"alerting config: team {name}: webhook must be a mapping")
                _unknown(f"team {name} webhook", w, Webhook.KEYS)
                if not (w.get("url_env") or w.get("url_conn")):
                    raise ConfigError(f"alerting config: team {name}: webhook needs url_env or url_conn "
                                      f"(the URL is a secret; never write it in the file)")
                fmt = w.get("format", "slack")
                if fmt not in WEBHOOK_FORMATS:
                    raise ConfigError(f"alerting config: team {name}: webhook format must be one of "
                                      f"{WEBHOOK_FORMATS}, not {fmt!r}")
                min_sev = w.get("min_severity", "low")
                if min_sev not in SEVERITIES:
                    raise ConfigError(f"alerting config: team {name}: min_severity must be one of {SEVERITIES}")
                webhook = Webhook(team=name, format=fmt, min_severity=min_sev,
                                  options={k: w[k] for k in ("url_env", "url_conn") if w.get(k)},
                                  timeout_seconds=float(w.get("timeout_seconds", 10)),
                                  max_alerts_per_message=int(w.get("max_alerts_per_message", 20)))
                if not 1 <= webhook.max_alerts_per_message <= 45:
                    raise ConfigError(f"alerting config: team {name}: max_alerts_per_message must be 1..45 "
                                      f"(Slack allows 50 blocks per message)")
            escalate_to = spec.get("escalate_to")
            team = Team(name, tuple(str(a) for a in emails), webhook,
                        str(escalate_to) if escalate_to is not None else None)
            if not team.destinations:
                raise ConfigError(f"alerting config: team {name} has neither email nor webhook")
            teams[name] = team

        for team in teams.values():
            if team.escalate_to is not None and (team.escalate_to not in teams or team.escalate_to == team.name):
                raise ConfigError(f"alerting config: team {team.name}: escalate_to names "
                                  f"{'itself' if team.escalate_to == team.name else 'unknown team ' + repr(team.escalate_to)}")

        routing: dict[str, tuple[str, ...]] = {}
        default: tuple[str, ...] = ()
        for kind, names in (data.get("routing") or {}).items():
            names = (names,) if isinstance(names, str) else tuple(names or ())
            for n in names:
                if n not in teams:
                    raise ConfigError(f"alerting config: routing of {kind!r} names unknown team {n!r}")
            if kind == "default":
                default = names
            elif kind in ROUTABLE_KINDS:
                routing[kind] = names
            else:
                raise ConfigError(f"alerting config: routing names unknown kind {kind!r} "
                                  f"(kinds: {', '.join(ROUTABLE_KINDS)})")

        smtp = SmtpSettings.from_dict(data["smtp"]) if data.get("smtp") else None
        if smtp is None and any(t.email for t in teams.values()):
            raise ConfigError("alerting config: teams have email addresses but there is no smtp section")
        drill = _drill_teams(data.get("drill"), teams, routing, default)
        return cls(teams, routing, default, smtp, threshold, per_kind, source, drill)


def _drill_teams(spec, teams: dict, routing: dict, default: tuple) -> tuple[str, ...]:
    """``drill: {teams: [...]}``: teams that take drills' alerts and no production alert, so a drill
    never reaches a real distribution list."""
    if spec is None:
        return ()
    if not isinstance(spec, dict):
        raise ConfigError("alerting config: drill must be a mapping (teams)")
    _unknown("drill", spec, {"teams"})
    names = spec.get("teams") or ()
    names = (names,) if isinstance(names, str) else tuple(str(n) for n in names)
    production = set(default).union(*routing.values()) if routing else set(default)
    production |= {t.escalate_to for t in teams.values() if t.escalate_to}  # case claims escalate there
    for n in names:
        if n not in teams:
            raise ConfigError(f"alerting config: drill names unknown team {n!r}")
        if n in production:
            raise ConfigError(f"alerting config: drill team {n!r} also receives production alerts; a drill's "
                              f"teams must receive drills only")
    return names


def load_config(path: Path | str | None) -> AlertingConfig:
    if path is None:
        return AlertingConfig.demo()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"alerting config {path} does not exist (VIGIL_ALERTING_CONFIG)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"alerting config {path}: not valid YAML ({exc})") from exc
    return AlertingConfig.from_dict(data, source=str(path))
