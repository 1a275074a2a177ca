"""Atomic, idempotent file writes (a reader sees the old file or the new one, never half of one),
and the file drop built on them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import time
from pathlib import Path

from vigil.actions.delivery.http import Call, SendResult
from vigil.actions.delivery.wire import canonical_json, sha256_hex


def file_sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def atomic_write(path: Path, data: bytes | str) -> bool:
    """Write `data` to `path` through a temp file in the same folder, fsync, rename, fsync the folder.

    Returns False (and touches nothing) when the file already holds exactly these bytes, so a
    rerun produces the same file or nothing.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path = Path(path)
    if file_sha256(path) == hashlib.sha256(payload).hexdigest():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def write_drop(folder: Path, files: list[tuple[str, bytes, int]], manifest: dict) -> tuple[SendResult, Path]:
    """One file drop: the data files, then ``manifest.json`` (``manifest`` plus each file's name,
    sha256, bytes and rows), each written atomically. The manifest has no timestamp of its own, so
    a rerun writes the same bytes or nothing; data first and the manifest last, so a consumer that
    waits for the manifest sees complete files."""
    body = dict(manifest, files=[{"name": name, "sha256": sha256_hex(data), "bytes": len(data), "rows": rows}
                                 for name, data, rows in files])
    calls: list[Call] = []
    wrote_any = False
    for name, data in [(n, d) for n, d, _ in files] + [("manifest.json", (canonical_json(body) + "\n").encode())]:
        started = dt.datetime.now(dt.timezone.utc)
        t0 = time.perf_counter()
        wrote = atomic_write(folder / name, data)
        wrote_any = wrote_any or wrote
        calls.append(Call(f"WRITE {name}", started, (time.perf_counter() - t0) * 1000, None,
                          "written" if wrote else "unchanged"))
    return SendResult("written" if wrote_any else "unchanged", "file", calls, confirms=False), folder
