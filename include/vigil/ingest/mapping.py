"""Source mappings: make a system's own export loadable, by configuration, before the strict contract.

The feed contract (vigil.ingest.contract, docs/feeds.md) stays strict: ISO dates, contract
column names, contract values. An HR system's report rarely looks like that (``M/D/YYYY`` dates,
its own column names, free-text termination reasons, trailing blanks, managers by name). A
*source mapping* is a YAML file that says, explicitly, how each contract column is read from such
an export; ``apply_mapping`` applies it and writes one ordinary delivery of the feed
(``<landing>/<feed>/<D>/<table>.csv`` + ``_manifest.json``), which the nightly run then reads like
any other. Nothing is guessed: a date must match the declared format, a value must be in the
declared table, a manager's name must name exactly one employee of the export; anything else is
an error naming file, line and column, and nothing is written.

    vigil import mapped EXPORT_DIR --mapping FILE --landing DIR --date YYYY-MM-DD [--force]

The format is documented in docs/feeds.md ("Source mappings"); an example with its termination-reason
table: transforms/source_mappings/hr_export.example.yml.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vigil.ingest.contract import FEEDS, TABLES, Table, table
from vigil.ingest.importers import (ContractCsvWriter, ImportResult, ImportSourceError, check_target, csv_records,
                                    publish, staging_folder, write_manifest)

#: Date formats a mapping may declare (explicitly, per file): token -> (regex, group order y, m, d).
DATE_FORMATS: dict[str, tuple[re.Pattern, tuple[int, int, int]]] = {
    "YYYY-MM-DD": (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), (1, 2, 3)),
    "M/D/YYYY": (re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})"), (3, 1, 2)),
    "D/M/YYYY": (re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})"), (3, 2, 1)),
    "DD.MM.YYYY": (re.compile(r"(\d{2})\.(\d{2})\.(\d{4})"), (3, 2, 1)),
}


class MappingConfigError(ValueError):
    """The mapping file itself is wrong (a usage error): the message names the mapping file."""


@dataclass
class ColumnRule:
    target: str
    source: str | None  # the export's column; None = always null
    values: dict[str, str] | None = None  # normalised source value -> contract value
    values_origin: str = ""  # where the values come from (for messages): "the mapping" or a table file
    match_name: str | None = None  # resolve a name to the key of the row whose <match_name> it is


@dataclass
class TableRule:
    table: Table
    file: str
    date_format: str
    columns: list[ColumnRule] = field(default_factory=list)


@dataclass
class SourceMapping:
    path: Path
    feed: str
    tables: list[TableRule]


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def load_mapping(path: str | Path) -> SourceMapping:
    """Read and check a mapping file; MappingConfigError names the file and what is wrong."""
    path = Path(path)

    def bad(msg: str) -> MappingConfigError:
        return MappingConfigError(f"{path}: {msg}")

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad("no such file") from None
    except yaml.YAMLError as exc:
        raise bad(f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("feed") not in FEEDS or not isinstance(doc.get("tables"), dict):
        raise bad(f"needs 'feed' (one of {', '.join(FEEDS)}) and 'tables' (contract table -> rules)")
    feed = doc["feed"]
    rules = []
    for name, spec in doc["tables"].items():
        try:
            t = table(feed, name)
        except KeyError:
            raise bad(f"feed {feed!r} has no table {name!r}") from None
        if not isinstance(spec, dict) or not spec.get("file") or not isinstance(spec.get("columns"), dict):
            raise bad(f"table {name!r} needs 'file' (the export's file name) and 'columns'")
        fmt = spec.get("date_format", "YYYY-MM-DD")
        if fmt not in DATE_FORMATS:
            raise bad(f"table {name!r}: date_format {fmt!r} is not one of {', '.join(DATE_FORMATS)}")
        unknown = set(spec["columns"]) - set(t.column_names)
        if unknown:
            raise bad(f"table {name!r} has no column(s) {', '.join(sorted(unknown))} (docs/feeds.md)")
        cols = []
        for c in t.columns:
            rule = spec["columns"].get(c.name)
            if rule is None:
                if c.required:
                    raise bad(f"table {name!r}: the required column {c.name!r} is not mapped")
                cols.append(ColumnRule(c.name, None))
                continue
            if isinstance(rule, str):
                rule = {"from": rule}
            if not isinstance(rule, dict) or not isinstance(rule.get("from"), str):
                raise bad(f"table {name!r}, column {c.name!r}: give the export's column name, or {{from: ..., ...}}")
            cr = ColumnRule(c.name, rule["from"])
            if "values" in rule and "table" in rule:
                raise bad(f"table {name!r}, column {c.name!r}: 'values' or 'table', not both")
            if "values" in rule:
                if not isinstance(rule["values"], dict):
                    raise bad(f"table {name!r}, column {c.name!r}: 'values' maps export values to contract values")
                cr.values = {_norm(str(k)): str(v) for k, v in rule["values"].items()}
                cr.values_origin = f"'values' of {c.name!r} in {path.name}"
            elif "table" in rule:
                cr.values = _read_value_table(path, path.parent / rule["table"], c.name)
                cr.values_origin = str(rule["table"])
            if cr.values is not None and c.values is not None:
                wrong = sorted(set(cr.values.values()) - set(c.values))
                if wrong:
                    raise bad(f"table {name!r}, column {c.name!r}: {', '.join(map(repr, wrong))} "
                              f"not allowed (allowed: {', '.join(c.values)})")
            if "match_name" in rule:
                if rule["match_name"] not in spec["columns"]:
                    raise bad(f"table {name!r}, column {c.name!r}: match_name {rule['match_name']!r} is not a mapped column")
                if len(t.key) != 1:
                    raise bad(f"table {name!r}: match_name needs a single-column key")
                cr.match_name = rule["match_name"]
            cols.append(cr)
        rules.append(TableRule(t, str(spec["file"]), fmt, cols))
    missing = [t.name for t in TABLES if t.feed == feed and t.required and t.name not in doc["tables"]]
    if missing:
        raise bad(f"feed {feed!r} needs its required table(s) {', '.join(missing)} mapped")
    return SourceMapping(path, feed, rules)


def _read_value_table(mapping: Path, path: Path, column: str) -> dict[str, str]:
    """A two-column CSV: the export's value (free text, matched case-insensitively with blanks
    collapsed) and the contract value, with a header ``source_value,<column>``."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise MappingConfigError(f"{mapping}: value table {path} does not exist") from None
    if not rows or [h.strip() for h in rows[0]] != ["source_value", column]:
        raise MappingConfigError(f"{path}, line 1: the header must be 'source_value,{column}'")
    out: dict[str, str] = {}
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise MappingConfigError(f"{path}, line {i}: {len(row)} fields, expected 2")
        key = _norm(row[0])
        if key in out and out[key] != row[1].strip():
            raise MappingConfigError(f"{path}, line {i}: {row[0].strip()!r} is listed twice with different values")
        out[key] = row[1].strip()
    return out


# --------------------------------------------------------------------------- applying a mapping


def apply_mapping(mapping: SourceMapping | str | Path, export_dir: str | Path, landing: str | Path, date: dt.date, *,
                  overwrite: bool = False):
    """Map the export in ``export_dir`` into ``<landing>/<feed>/<date>/``; returns an ImportResult.

    Raises ImportSourceError (file, line, column) for an export it cannot map, TargetExistsError when
    the folder already holds a delivery and overwrite is False; nothing is written then."""
    if not isinstance(mapping, SourceMapping):
        mapping = load_mapping(mapping)
    export_dir, landing = Path(export_dir), Path(landing)
    check_target(landing, mapping.feed, date, overwrite)
    tmp = staging_folder(landing, mapping.feed)
    try:
        files, counts = [], {}
        for rule in mapping.tables:
            written, mapped_counts = _map_table(rule, export_dir / rule.file, tmp)
            files.append(written)
            counts.update(mapped_counts)
        write_manifest(tmp, mapping.feed, date, files)
        target = check_target(landing, mapping.feed, date, overwrite)
        publish(tmp, target)
        return ImportResult(feed=mapping.feed, date=date, folder=target, files=files, counts=counts)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _map_table(rule: TableRule, path: Path, out: Path):
    if not path.is_file():
        raise ImportSourceError(path, f"no such file (the mapping's 'file' of table {rule.table.name!r})")
    pattern, (yi, mi, di) = DATE_FORMATS[rule.date_format]
    records: list[tuple[int, dict[str, str]]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise ImportSourceError(path, "the file is empty (no header)") from None
            for cr in rule.columns:
                if cr.source is not None and cr.source not in header:
                    raise ImportSourceError(path, f"missing column {cr.source!r} (mapped to {cr.target!r})",
                                            line=1, column=cr.source)
            for line, record in csv_records(path, reader, header):
                # trailing (and leading) blanks are an export artefact, never data
                records.append((line, {h: v.strip() for h, v in zip(header, record)}))
    except UnicodeDecodeError as exc:
        raise ImportSourceError(path, f"not UTF-8 ({exc.reason})") from None

    key = rule.table.key[0]
    by_name: dict[str, dict[str, list[int]]] = {}
    for cr in rule.columns:
        if cr.match_name:
            name_source = next(c.source for c in rule.columns if c.target == cr.match_name)
            key_source = next(c.source for c in rule.columns if c.target == key)
            index: dict[str, list] = {}
            for line, rec in records:
                if rec[name_source]:
                    index.setdefault(_norm(rec[name_source]), []).append((line, rec[key_source]))
            by_name[cr.target] = index

    writer = ContractCsvWriter(out / f"{rule.table.name}.csv", rule.table)
    counts: dict[str, Counter] = {cr.target: Counter() for cr in rule.columns if cr.values is not None}
    try:
        for line, rec in records:
            row: dict[str, str | None] = {}
            for cr in rule.columns:
                col = rule.table.column(cr.target)
                value = rec[cr.source] if cr.source is not None else ""
                if not value:
                    row[cr.target] = None
                    continue
                if cr.match_name:
                    # Never echo the name: it is personal data, and errors end up in logs.
                    hits = by_name[cr.target].get(_norm(value), [])
                    if len(hits) != 1:
                        why = ("names no employee of the export" if not hits else
                               f"names {len(hits)} employees of the export (lines {', '.join(str(h[0]) for h in hits)}): "
                               "ambiguous")
                        raise ImportSourceError(path, f"the {cr.target} name {why}", line=line, column=cr.source)
                    value = hits[0][1]
                elif cr.values is not None:
                    mapped = cr.values.get(_norm(value))
                    if mapped is None:
                        raise ImportSourceError(
                            path, f"{value!r} is not in {cr.values_origin} (add it there: a new value needs a decision, "
                            "not a guess)", line=line, column=cr.source)
                    counts[cr.target][mapped] += 1
                    value = mapped
                if col.type == "date":
                    m = pattern.fullmatch(value)
                    try:
                        if not m:
                            raise ValueError
                        value = dt.date(int(m[yi]), int(m[mi]), int(m[di])).isoformat()
                    except ValueError:
                        raise ImportSourceError(path, f"{value!r} is not a date in the declared format {rule.date_format}",
                                                line=line, column=cr.source) from None
                row[cr.target] = value
            writer.write(row)
    finally:
        written = writer.close()
    return written, {f"{rule.table.name}.{k}": dict(sorted(v.items())) for k, v in counts.items()}
