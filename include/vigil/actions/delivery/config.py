"""The delivery configuration: named channels, which serve which IAM system's tickets, and which
serve cases (config/delivery.example.yml, docs/tickets.md, docs/cases.md).

Named channels (``type: scim | webhook | filedrop``) and a mapping ``systems: {system: [channel
names]}``; ``default:`` serves systems not listed (without it they are "unrouted" and alerted).
``cases: {default: [channel names], owner_teams: {team: [channel names]}}`` routes case documents
(webhook and filedrop channels only: SCIM changes accounts, a case is not an account change).
``drill: {channels: [channel names]}`` is where a drill's tickets and cases go (docs/drills.md):
webhook or filedrop channels serving nothing else; without it they go to the dry-run file sink
``<out>/drills/sink/`` (channel DRILL_SINK). A drill's documents never reach a production channel.
Secrets never live in the file: ``token_env`` / ``secret_env`` name an environment variable and
``token_conn`` / ``secret_conn`` an Airflow connection (its password). Both are resolved only
when a delivery needs them.

Rules checked when the file is loaded (ConfigError otherwise):
* HTTP targets must be ``https://``; plain ``http://`` only to a loopback host (tests).
* Webhook secrets (when resolved) are at least 24 bytes (``whsec_<base64>`` is decoded first).
* File-drop paths are relative, without ``..``; they stay inside their root once the system name
  and date are filled in and symlinks are resolved (checked again at delivery).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vigil.actions.delivery.http import check_url
from vigil.actions.delivery.signing import MIN_WEBHOOK_SECRET_BYTES, decode_webhook_secret
from vigil.config import ConfigError, airflow_connection_password

CHANNEL_TYPES = ("scim", "webhook", "filedrop")
CASE_CHANNEL_TYPES = ("webhook", "filedrop")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
WEBHOOK_FORMATS = ("standard", "servicenow", "jira")
USER_LOOKUPS = ("externalId", "userName", "id")


def team_slug(owner_team: str) -> str:
    """An owner team as a routing key and a Jira label: every run of other characters (a space) becomes
    '_' (``Private Banking`` -> ``Private_Banking``). Case channels (``cases.owner_teams``) and alert
    teams (``teams.<name>`` of the alerting config) are keyed by it."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", owner_team)


def resolve_secret(owner: str, options: dict, what: str, *, required: bool = False) -> str | None:
    """The secret named by ``<what>_env`` (an environment variable) or ``<what>_conn`` (an Airflow
    connection's password); None when neither is configured (an error when ``required``)."""
    env_name, conn_id = options.get(f"{what}_env"), options.get(f"{what}_conn")
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise ConfigError(f"{owner}: environment variable {env_name} is not set")
        return value
    if conn_id:
        value = airflow_connection_password(conn_id)
        if not value:
            raise ConfigError(f"{owner}: Airflow connection {conn_id!r} has no password")
        return value
    if required:
        raise ConfigError(f"{owner}: needs {what}_env or {what}_conn")
    return None


@dataclass(frozen=True)
class Policy:
    """Retry and throughput policy (``defaults:`` in the file; per channel overrides allowed)."""

    max_attempts: int = 6
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    max_inline_wait_seconds: float = 30.0
    timeout_seconds: float = 10.0
    lease_seconds: float = 300.0
    concurrency: int = 8
    batch_size: int = 200

    @classmethod
    def from_dict(cls, data: dict | None, base: Policy | None = None) -> Policy:
        base = base or cls()
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"delivery config: unknown policy keys {sorted(unknown)}")
        values = {k: getattr(base, k) for k in cls.__dataclass_fields__}
        for k, v in data.items():
            values[k] = type(getattr(base, k))(v)
        p = cls(**values)
        if p.max_attempts < 1 or p.concurrency < 1 or p.batch_size < 1:
            raise ConfigError("delivery config: max_attempts, concurrency and batch_size must be >= 1")
        if min(p.backoff_base_seconds, p.backoff_max_seconds, p.max_inline_wait_seconds, p.timeout_seconds) < 0:
            raise ConfigError("delivery config: durations must not be negative")
        if p.lease_seconds <= p.timeout_seconds:
            raise ConfigError("delivery config: lease_seconds must exceed timeout_seconds")
        return p


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    options: dict
    policy: Policy

    # -- secrets ---------------------------------------------------------------------------
    def secret(self, what: str) -> str | None:
        """The secret named by ``<what>_env`` or ``<what>_conn``; None when neither is configured."""
        return resolve_secret(f"channel {self.name}", self.options, what)

    def webhook_key(self) -> bytes:
        secret = self.secret("secret")
        if not secret:
            raise ConfigError(f"channel {self.name}: a webhook needs secret_env or secret_conn")
        key = decode_webhook_secret(secret)
        if len(key) < MIN_WEBHOOK_SECRET_BYTES:
            raise ConfigError(
                f"channel {self.name}: the webhook secret must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes "
                f"(got {len(key)})"
            )
        return key

    # -- file drops ------------------------------------------------------------------------
    def drop_root(self, out: Path) -> Path:
        root = self.options.get("root")
        if self.options.get("root_env"):
            root = os.environ.get(self.options["root_env"])
            if not root:
                raise ConfigError(f"channel {self.name}: environment variable {self.options['root_env']} is not set")
        root_path = Path(root) if root else Path("filedrop")
        if not root_path.is_absolute():
            root_path = Path(out) / root_path
        return root_path

    def drop_dir(self, out: Path, system: str, run_date: str) -> Path:
        """The folder of one (system, night); refuses anything that would leave the root."""
        if not SAFE_NAME.match(system) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", run_date):
            raise ConfigError(f"channel {self.name}: refusing unsafe system name or date {system!r}/{run_date!r}")
        rel = self.options.get("path", "{system}/{run_date}").format(system=system, run_date=run_date)
        _check_relative(self.name, rel)
        root = self.drop_root(out)
        target = (root / rel)
        resolved_root = root.resolve()
        resolved = target.resolve()
        if resolved != resolved_root and not resolved.is_relative_to(resolved_root):
            raise ConfigError(f"channel {self.name}: drop path {rel!r} resolves outside its root")
        return resolved


def _check_relative(name: str, rel: str) -> None:
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith(("/", "~")) or Path(rel).is_absolute():
        raise ConfigError(f"channel {name}: drop path {rel!r} must be a relative path")
    if any(part in ("..", ".") for part in Path(rel).parts) or ".." in rel.split("/"):
        raise ConfigError(f"channel {name}: drop path {rel!r} must not contain '..' (path traversal)")


@dataclass(frozen=True)
class DeliveryConfig:
    channels: dict[str, Channel]
    systems: dict[str, tuple[str, ...]]
    default: tuple[str, ...] = ()
    policy: Policy = field(default_factory=Policy)
    source: str | None = None
    case_default: tuple[str, ...] = ()
    case_teams: dict[str, tuple[str, ...]] = field(default_factory=dict)

    drill: tuple[str, ...] = ()

    def drill_channels(self) -> list[Channel]:
        """Where a drill's tickets and cases go: ``drill.channels``, else the dry-run sink."""
        return [self.channels[n] for n in self.drill] or [DRY_RUN_SINK]

    def channels_for(self, system: str) -> list[Channel]:
        names = self.systems.get(system, self.default)
        return [self.channels[n] for n in names]

    def case_channels_for(self, owner_team: str) -> list[Channel]:
        """The channels a case of `owner_team` goes to (``cases.owner_teams``, else ``cases.default``)."""
        names = self.case_teams.get(owner_team, self.case_default)
        return [self.channels[n] for n in names]

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> DeliveryConfig:
        if not isinstance(data, dict):
            raise ConfigError("delivery config: expected a mapping at the top level")
        unknown = set(data) - {"version", "defaults", "channels", "systems", "default", "cases", "drill"}
        if unknown:
            raise ConfigError(f"delivery config: unknown keys {sorted(unknown)}")
        policy = Policy.from_dict(data.get("defaults"))
        channels: dict[str, Channel] = {}
        for name, spec in (data.get("channels") or {}).items():
            if not SAFE_NAME.match(str(name)):
                raise ConfigError(f"delivery config: bad channel name {name!r}")
            if str(name) == DRY_RUN_SINK.name:
                raise ConfigError(f"delivery config: channel name {name!r} is reserved for the drills' dry-run sink")
            spec = dict(spec or {})
            ctype = spec.pop("type", None)
            if ctype not in CHANNEL_TYPES:
                raise ConfigError(f"channel {name}: type must be one of {CHANNEL_TYPES}, not {ctype!r}")
            for key in spec:
                if key in ("token", "secret", "password") or key.endswith("_secret"):
                    raise ConfigError(f"channel {name}: secrets never go in the file; use {key}_env or {key}_conn")
            ch_policy = Policy.from_dict(spec.pop("policy", None), policy)
            ch = Channel(str(name), ctype, spec, ch_policy)
            _validate_channel(ch)
            channels[str(name)] = ch
        systems: dict[str, tuple[str, ...]] = {}
        for system, names in (data.get("systems") or {}).items():
            names = (names,) if isinstance(names, str) else tuple(names or ())
            for n in names:
                if n not in channels:
                    raise ConfigError(f"delivery config: system {system} uses unknown channel {n!r}")
            systems[str(system)] = names
        default = data.get("default") or ()
        default = (default,) if isinstance(default, str) else tuple(default)
        for n in default:
            if n not in channels:
                raise ConfigError(f"delivery config: default uses unknown channel {n!r}")
        case_default, case_teams = _case_routes(data.get("cases"), channels, systems, default)
        drill = _drill_routes(data.get("drill"), channels, systems, default, case_default, case_teams)
        channels[DRY_RUN_SINK.name] = DRY_RUN_SINK  # so rows queued for it are delivered whatever the file says
        return cls(channels, systems, default, policy, source, case_default, case_teams, drill)

    @classmethod
    def dry_run_only(cls) -> DeliveryConfig:
        """No delivery configuration: only a drill's documents are delivered, to the dry-run sink."""
        return cls({DRY_RUN_SINK.name: DRY_RUN_SINK}, {})


#: Where a drill's tickets and cases go when the configuration names no drill channel (or there is
#: none): files under <out>/drills/sink/<system or "cases">/<D>/, never a production system.
DRY_RUN_SINK = Channel("drill-dry-run", "filedrop", {"root": "drills/sink", "path": "{system}/{run_date}"}, Policy())


def drill_channels(config: DeliveryConfig | None) -> list[Channel]:
    """The channels of a drill's tickets and cases (docs/drills.md): the ``drill:`` section's, else
    the dry-run sink; with no configuration at all, the sink."""
    return config.drill_channels() if config is not None else [DRY_RUN_SINK]


def _drill_routes(spec, channels: dict[str, Channel], systems: dict, default: tuple, case_default: tuple,
                  case_teams: dict) -> tuple[str, ...]:
    """``drill: {channels: [...]}``: webhook or filedrop channels that serve no production route, so
    a drill can never reach an IAM system or the ITSM's production queue."""
    if spec is None:
        return ()
    if not isinstance(spec, dict):
        raise ConfigError("delivery config: drill must be a mapping (channels)")
    unknown = set(spec) - {"channels"}
    if unknown:
        raise ConfigError(f"delivery config: unknown keys {sorted(unknown)} in drill")
    names = _names(spec.get("channels"))
    production = set(default) | set(case_default)
    for group in (*systems.values(), *case_teams.values()):
        production |= set(group)
    for n in names:
        ch = channels.get(n)
        if ch is None:
            raise ConfigError(f"delivery config: drill uses unknown channel {n!r}")
        if ch.type not in CASE_CHANNEL_TYPES:
            raise ConfigError(f"delivery config: drill uses channel {n!r} of type {ch.type}; a drill never "
                              f"changes accounts: {' or '.join(CASE_CHANNEL_TYPES)} channels only")
        if n in production:
            raise ConfigError(f"delivery config: drill channel {n!r} also serves production tickets or cases; "
                              f"a drill's channels must serve drills only")
    return names


def _names(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def _case_routes(spec, channels: dict[str, Channel], systems: dict, default: tuple) -> tuple[tuple, dict]:
    """``cases: {default: [...], owner_teams: {team: [...]}}``: webhook or filedrop channels only.
    A file drop shared with tickets must put ``{system}`` in its path (cases drop as system
    ``cases``), or both would write one folder's manifest.json."""
    if spec is None:
        return (), {}
    if not isinstance(spec, dict):
        raise ConfigError("delivery config: cases must be a mapping (default, owner_teams)")
    unknown = set(spec) - {"default", "owner_teams"}
    if unknown:
        raise ConfigError(f"delivery config: unknown keys {sorted(unknown)} in cases")
    teams = {str(t): _names(n) for t, n in (spec.get("owner_teams") or {}).items()}
    for team in teams:
        if not SAFE_NAME.match(team):
            raise ConfigError(f"delivery config: cases.owner_teams: bad team name {team!r}")
    case_default = _names(spec.get("default"))
    ticket_channels = set(default).union(*systems.values()) if systems else set(default)
    for n in set(case_default).union(*teams.values()) if teams else set(case_default):
        ch = channels.get(n)
        if ch is None:
            raise ConfigError(f"delivery config: cases use unknown channel {n!r}")
        if ch.type not in CASE_CHANNEL_TYPES:
            raise ConfigError(f"delivery config: cases use channel {n!r} of type {ch.type}; "
                              f"cases go to {' or '.join(CASE_CHANNEL_TYPES)} channels")
        if ch.type == "filedrop" and n in ticket_channels and "{system}" not in ch.options.get("path", "{system}"):
            raise ConfigError(f"delivery config: file drop {n!r} serves tickets and cases; its path needs "
                              f"{{system}} so cases get their own folder")
    return case_default, teams


def _validate_channel(ch: Channel) -> None:
    o = ch.options
    if ch.type == "scim":
        check_url(f"channel {ch.name}", o.get("base_url"))
        if o.get("user_lookup", "externalId") not in USER_LOOKUPS:
            raise ConfigError(f"channel {ch.name}: user_lookup must be one of {USER_LOOKUPS}")
        if not isinstance(o.get("groups", {}), dict):
            raise ConfigError(f"channel {ch.name}: groups must map entitlement -> group displayName")
    elif ch.type == "webhook":
        check_url(f"channel {ch.name}", o.get("url"))
        if not (o.get("secret_env") or o.get("secret_conn")):
            raise ConfigError(f"channel {ch.name}: a webhook needs secret_env or secret_conn (Standard Webhooks signing)")
        if o.get("format", "standard") not in WEBHOOK_FORMATS:
            raise ConfigError(f"channel {ch.name}: format must be one of {WEBHOOK_FORMATS}")
    elif ch.type == "filedrop":
        root = o.get("root")
        if root is not None:
            root_str = str(root)
            if not Path(root_str).is_absolute():
                _check_relative(ch.name, root_str)
        template = o.get("path", "{system}/{run_date}")
        try:
            sample = template.format(system="SYSTEM", run_date="2000-01-01")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"channel {ch.name}: drop path may use only {{system}} and {{run_date}}") from exc
        _check_relative(ch.name, sample)


def load_delivery_config(path: Path | str | None) -> DeliveryConfig | None:
    """Read the YAML file; None when no file is configured (explicit path, else VIGIL_DELIVERY_CONFIG)."""
    path = path or os.environ.get("VIGIL_DELIVERY_CONFIG")
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"delivery config {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"delivery config {p}: {exc}") from exc
    return DeliveryConfig.from_dict(data or {}, source=str(p))
