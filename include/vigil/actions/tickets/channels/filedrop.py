"""File drops for disconnected systems: JSONL + CSV + a manifest with sha256, written atomically.

One folder per (channel, system, night): ``<root>/<path>`` with ``path`` defaulting to
``{system}/{run_date}``; it holds ``revocations.jsonl``, ``revocations.csv`` and ``manifest.json``
listing every ticket of that night routed to the channel. Each file goes through a temp file,
fsync and rename; a file that already holds the same bytes is left alone, so a rerun produces the
same files or nothing. The manifest has no timestamp of its own for the same reason.
Paths are checked against traversal (config.Channel.drop_dir).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from vigil.actions.tickets import model
from vigil.actions.tickets.channels.base import Call, SendResult
from vigil.actions.tickets.config import Channel
from vigil.actions.tickets.files import atomic_write


class FileDropChannel:
    type = "filedrop"

    def __init__(self, channel: Channel, out: Path):
        self.channel = channel
        self.out = Path(out)

    def write(self, system: str, run_date: str, documents: list[dict]) -> tuple[SendResult, Path]:
        folder = self.channel.drop_dir(self.out, system, run_date)
        docs = sorted(documents, key=lambda d: d["ticket_id"])
        jsonl = model.render_jsonl(docs).encode()
        csv = model.render_csv(docs).encode()
        manifest = {
            "generated_by": "vigil",
            "channel": self.channel.name,
            "system": system,
            "run_date": run_date,
            "tickets": len(docs),
            "ticket_ids": [d["ticket_id"] for d in docs],
            "files": [
                {"name": "revocations.jsonl", "sha256": model.sha256_hex(jsonl), "bytes": len(jsonl), "rows": len(docs)},
                {"name": "revocations.csv", "sha256": model.sha256_hex(csv), "bytes": len(csv), "rows": len(docs)},
            ],
        }
        calls: list[Call] = []
        wrote_any = False
        # Data files first, the manifest last: a consumer that waits for the manifest sees complete files.
        for name, data in (("revocations.jsonl", jsonl), ("revocations.csv", csv),
                           ("manifest.json", (model.canonical_json(manifest) + "\n").encode())):
            started = dt.datetime.now(dt.timezone.utc)
            t0 = time.perf_counter()
            wrote = atomic_write(folder / name, data)
            wrote_any = wrote_any or wrote
            calls.append(Call(f"WRITE {name}", started, (time.perf_counter() - t0) * 1000, None,
                              "written" if wrote else "unchanged"))
        return SendResult("written" if wrote_any else "unchanged", "file", calls, confirms=False), folder
