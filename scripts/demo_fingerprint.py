"""Fingerprint what the demo publishes: every publish.* table, every ticket and alert file.

Used to show that a change which should not change behaviour (a restructuring) does not: run
`make demo` before and after, then

    .venv/bin/python scripts/demo_fingerprint.py demo > before.txt   # on the old checkout
    .venv/bin/python scripts/demo_fingerprint.py demo > after.txt    # on the new one
    diff before.txt after.txt

One line per table or file: its name, its row count (tables) or size (files) and the SHA-256 of its
canonical content: table rows sorted; the wall-clock columns and fields, which differ between any two
runs of the same code (VOLATILE, VOLATILE_FIELDS: when a ticket was written, the run id), left out and
listed. `--rows` prints the canonical rows instead of their digest, to see a difference.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from pathlib import Path

import duckdb

#: Columns holding the wall-clock time of the run, not data: they differ between any two runs.
VOLATILE = {"published_at", "loaded_at", "_loaded_at", "run_started_at", "generated_at", "created_at_wall",
            "dbt_run_started_at", "_published_at", "sent_at", "delivered_at", "attempted_at", "recorded_at"}


#: Fields of the ticket and alert files that carry the wall clock: when the run wrote them, and the
#: run id (`manual__<start time>`). Everything else in them is data and must not change.
VOLATILE_FIELDS = ("created_at", "run_id")


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE_FIELDS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def canonical_file(path: Path) -> bytes:
    """The file's bytes with VOLATILE_FIELDS removed (JSON lines: at any depth; CSV: those columns)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return "\n".join(json.dumps(_strip(json.loads(line)), sort_keys=True, ensure_ascii=False)
                         for line in text.splitlines() if line).encode()
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        keep = [i for i, c in enumerate(rows[0]) if c not in VOLATILE_FIELDS] if rows else []
        return "\n".join(json.dumps([r[i] for i in keep]) for r in rows).encode()
    return path.read_bytes()


def canonical_rows(con, table: str) -> tuple[list[str], list[str]]:
    cols = [r[0] for r in con.execute(f"SELECT column_name FROM information_schema.columns WHERE table_schema = 'publish' "
                                       f"AND table_name = '{table}' ORDER BY ordinal_position").fetchall()]
    kept = [c for c in cols if c not in VOLATILE]
    rows = con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in kept)} FROM publish.{table}").fetchall()
    lines = sorted(json.dumps([str(v) for v in r], ensure_ascii=False) for r in rows)
    return [c for c in cols if c in VOLATILE], lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("demo", type=Path, help="the demo folder (make demo's DEMO, default demo/)")
    ap.add_argument("--rows", action="store_true", help="print canonical rows, not digests")
    args = ap.parse_args(argv)
    con = duckdb.connect(str(args.demo / "warehouse" / "vigil.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'publish' "
                                         "ORDER BY table_name").fetchall()]
    for t in tables:
        dropped, lines = canonical_rows(con, t)
        if args.rows:
            for line in lines:
                print(f"publish.{t}\t{line}")
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
        print(f"publish.{t}\trows={len(lines)}\tsha256={digest}" + (f"\twithout={','.join(dropped)}" if dropped else ""))
    out = args.demo / "out"
    for sub in ("tickets", "alerts"):
        for path in sorted((out / sub).rglob("*")):
            if path.is_file():
                digest = hashlib.sha256(canonical_file(path)).hexdigest()[:16]
                print(f"{path.relative_to(out)}\tbytes={path.stat().st_size}\tsha256={digest}\twithout={','.join(VOLATILE_FIELDS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
