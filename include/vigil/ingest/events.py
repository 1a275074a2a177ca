"""HR events in (issue 24): validate against docs/hr_events.schema.json, land, dead-letter.

An event is one JSON object (docs/events.md). It arrives as a file in ``<landing>/hr_events/``
(``*.json``: one object; ``*.jsonl``: one object a line), on the Redis channel, or through
``vigil react FILE``; whichever way, the file in the landing folder is the record of truth, so the
channel and the CLI write it there first (`land_event`, `land_file`).

A bad event is never acted on: the error names the file, line and column and the rule it broke
(never the value: it could be a name), and the event is kept in ``<landing>/hr_events/dead_letter/``
beside a ``.reason.json``. A bad ``.json`` file is moved there whole; a bad line of a ``.jsonl``
file is copied there and the file's good lines are still acted on.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vigil.config import project_dir

EVENTS_DIR = "hr_events"
DEAD_LETTER_DIR = "dead_letter"
#: Touched after an event file is written: the Airflow folder watcher fires on it (and deletes
#: only it), then the DAG reads every event file in the folder.
DOORBELL = "_READY"

LEAVER_KINDS = ("dismissal", "termination", "rehire_cancel")   # every account: rule AL-01
NOTICE_KINDS = ("resignation", "notice_given")                 # privileged entitlements: rule AL-02
LEAVE_KINDS = ("leave_start",)                                 # recorded; no rule acts on it
KINDS = ("dismissal", "termination", "resignation", "notice_given", "leave_start", "rehire_cancel")
FIELDS = ("event_id", "kind", "employee_id", "effective_at", "reported_at", "source")
SUFFIXES = (".json", ".jsonl")


class EventError(ValueError):
    """One bad event: where it is and which rule it broke (never its values)."""

    def __init__(self, file: str, line: int, column: int, reason: str, text: str | None = None):
        self.file, self.line, self.column, self.reason, self.text = file, line, column, reason, text
        super().__init__(f"{file}:{line}:{column}: {reason}")

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column, "reason": self.reason}


@dataclass(frozen=True)
class HrEvent:
    event_id: str
    kind: str
    employee_id: str
    effective_at: dt.datetime
    reported_at: dt.datetime
    source: str
    file: str     # where it was read from (the record of truth)
    line: int
    sha256: str   # of the event's canonical JSON: the same event_id with other facts is refused

    @property
    def effective_date(self) -> dt.date:
        return self.effective_at.date()

    def to_dict(self) -> dict:
        return {"event_id": self.event_id, "kind": self.kind, "employee_id": self.employee_id,
                "effective_at": iso(self.effective_at), "reported_at": iso(self.reported_at), "source": self.source}


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


@functools.cache
def schema() -> dict:
    return json.loads((project_dir() / "docs" / "hr_events.schema.json").read_text())


@functools.cache
def _validator():
    # jsonschema only for an event the quick check does not pass: importing it (and its format
    # libraries) is a few tenths of `vigil react`'s 5 s budget (docs/benchmarks.md)
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


#: The schema keywords `obviously_valid` reads; a schema using any other is always checked by jsonschema.
_QUICK_KEYWORDS = {"$schema", "$id", "title", "description", "type", "additionalProperties", "required", "properties"}
_QUICK_PROPERTY_KEYWORDS = {"description", "type", "pattern", "enum"}


@functools.cache
def _quick_rules() -> tuple[frozenset, dict] | None:
    s = schema()
    if set(s) - _QUICK_KEYWORDS or s.get("type") != "object" or s.get("additionalProperties") is not False:
        return None
    rules = {}
    for key, prop in s["properties"].items():
        if set(prop) - _QUICK_PROPERTY_KEYWORDS or prop.get("type", "string") != "string":
            return None
        rules[key] = ("type" in prop, re.compile(prop["pattern"]) if "pattern" in prop else None,
                      tuple(prop["enum"]) if "enum" in prop else None)
    return frozenset(s.get("required", ())), rules


def obviously_valid(data) -> bool:
    """True only for an event the schema accepts, read from the schema's own keywords (type,
    required, additionalProperties: false, string properties with pattern or enum; the same
    re.search jsonschema uses). False means "ask jsonschema", which names the rule broken."""
    rules = _quick_rules()
    if rules is None or not isinstance(data, dict):
        return False
    required, props = rules
    if not required <= data.keys() or not data.keys() <= props.keys():
        return False
    for key, value in data.items():
        typed, pattern, enum = props[key]
        if typed and not isinstance(value, str):
            return False
        if pattern is not None and (not isinstance(value, str) or not pattern.search(value)):
            return False
        if enum is not None and not (isinstance(value, str) and value in enum):
            return False
    return True


def _locate(text: str, key: str | None, offset_line: int) -> tuple[int, int]:
    """Line and column (1-based) of ``"key"`` in the text, else of its first character."""
    if key is not None:
        m = re.search(r'"' + re.escape(key) + r'"\s*:', text)
        if m:
            before = text[:m.start()]
            return offset_line + before.count("\n"), m.start() - (before.rfind("\n") + 1) + 1
    stripped = len(text) - len(text.lstrip())
    before = text[:stripped]
    return offset_line + before.count("\n"), stripped - (before.rfind("\n") + 1) + 1


def _rule(error) -> tuple[str | None, str]:
    """The key and a message for a schema error, naming the rule, never the value."""
    props = schema()["properties"]
    key = str(error.path[0]) if error.path else None
    if error.validator == "required":
        missing = sorted(set(schema()["required"]) - set(error.instance))
        return None, f"missing required field(s): {', '.join(missing)}"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(props))
        return extra[0], (f"unknown field(s) {', '.join(extra)}: an event carries only {', '.join(FIELDS)} "
                          f"(no personal data)")
    if error.validator == "type" and key is None:
        return None, "an event must be a JSON object"
    if error.validator == "enum":
        return key, f"{key}: not one of {', '.join(props[key]['enum'])}"
    if error.validator == "type":
        return key, f"{key}: must be a {error.validator_value}"
    if error.validator == "pattern" and key in ("effective_at", "reported_at"):
        return key, f"{key}: not an RFC 3339 date-time with an offset (e.g. 2026-03-02T10:15:00Z)"
    if error.validator == "pattern":
        return key, f"{key}: must be letters, digits and _.-{':' if key == 'event_id' else ''} (at most " \
                    f"{128 if key == 'event_id' else 64} characters)"
    return key, f"{key or 'event'}: breaks the schema rule {error.validator}"


def parse_event(text: str, *, file: str, line: int = 1) -> HrEvent:
    """One event from its JSON text (starting at `line` of `file`), or EventError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventError(file, line + exc.lineno - 1, exc.colno, f"not valid JSON: {exc.msg}", text) from None
    errors = [] if obviously_valid(data) else \
        sorted(_validator().iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        key, reason = _rule(errors[0])
        ln, col = _locate(text, key, line)
        raise EventError(file, ln, col, reason, text)
    times = {}
    for key in ("effective_at", "reported_at"):
        try:
            times[key] = dt.datetime.fromisoformat(data[key].replace("Z", "+00:00")).astimezone(dt.timezone.utc)
        except ValueError:
            ln, col = _locate(text, key, line)
            raise EventError(file, ln, col, f"{key}: not a real date and time", text) from None
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return HrEvent(data["event_id"], data["kind"], data["employee_id"], times["effective_at"], times["reported_at"],
                   data["source"], file, line, hashlib.sha256(canonical.encode()).hexdigest())


def read_event_file(path: Path) -> tuple[list[HrEvent], list[EventError]]:
    """Every event of a ``.json`` (one object) or ``.jsonl`` (one a line) file, and the bad ones."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [EventError(name, 1, 1, f"cannot read the file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        return [], [EventError(name, before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1,
                               "not UTF-8 text")]
    if path.suffix == ".jsonl":
        events, errors = [], []
        for n, line_text in enumerate(text.splitlines(), start=1):
            if not line_text.strip():
                continue
            try:
                events.append(parse_event(line_text, file=name, line=n))
            except EventError as exc:
                errors.append(exc)
        if not events and not errors:
            errors.append(EventError(name, 1, 1, "no event in the file"))
        return events, errors
    if not text.strip():
        return [], [EventError(name, 1, 1, "no event in the file")]
    try:
        return [parse_event(text, file=name)], []
    except EventError as exc:
        return [], [exc]


def events_dir(landing) -> Path:
    return Path(landing) / EVENTS_DIR


def event_files(landing) -> list[Path]:
    """The event files waiting in the landing folder (not the dead letters, temp or hidden files)."""
    folder = events_dir(landing)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith((".", "_")))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dead_letter(landing, errors: list[EventError], *, now: dt.datetime | None = None) -> list[str]:
    """Keep each bad event in <landing>/hr_events/dead_letter/ with its reason; returns the paths.

    A whole bad file (no good event in it) is moved; a bad line of a JSONL file is copied there
    (``<stem>.line<N>.json``). Repeating it for the same error writes the same files."""
    now = now or dt.datetime.now(dt.timezone.utc)
    folder = events_dir(landing) / DEAD_LETTER_DIR
    out = []
    by_file: dict[str, list[EventError]] = {}
    for e in errors:
        by_file.setdefault(e.file, []).append(e)
    for file, errs in sorted(by_file.items()):
        src = Path(file)
        whole = src.suffix != ".jsonl" or all(e.text is None for e in errs)
        for e in errs:
            if whole:
                target = folder / src.name
            else:
                target = folder / f"{src.stem}.line{e.line}.json"
                if not target.exists():
                    _atomic_write(target, (e.text or "").encode())
            reason = dict(e.to_dict(), dead_lettered_at=iso(now), original=str(src))
            _atomic_write(target.with_name(target.name + ".reason.json"),
                          json.dumps(reason, sort_keys=True, indent=1).encode())
            out.append(str(target))
        if whole and src.exists() and src.parent == events_dir(landing):
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(src, folder / src.name)
    return sorted(set(out))


def land_event(landing, event: dict, *, ring: bool = True) -> Path:
    """Write one event as <landing>/hr_events/<event_id>.json (atomic), then ring the doorbell.

    The producer's half of the contract (docs/events.md): the file first, then the message."""
    event_id = str(event.get("event_id", ""))
    if not re.fullmatch(schema()["properties"]["event_id"]["pattern"].strip("^$"), event_id):
        raise EventError("<event>", 1, 1, "event_id: must be letters, digits and _.-: (at most 128 characters)")
    path = events_dir(landing) / f"{event_id.replace(':', '_')}.json"
    _atomic_write(path, (json.dumps(event, sort_keys=True) + "\n").encode())
    if ring:
        ring_doorbell(landing)
    return path


def land_file(landing, source: Path) -> Path:
    """Copy an event file into the landing folder (unless it is there), keeping its bytes."""
    source = Path(source)
    folder = events_dir(landing)
    if source.resolve().parent == folder.resolve():
        return source
    target = folder / source.name
    data = source.read_bytes()
    if target.exists() and target.read_bytes() != data:
        target = folder / f"{source.stem}.{hashlib.sha256(data).hexdigest()[:12]}{source.suffix}"
    if not target.exists():
        _atomic_write(target, data)
    return target


def ring_doorbell(landing) -> None:
    path = events_dir(landing) / DOORBELL
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
