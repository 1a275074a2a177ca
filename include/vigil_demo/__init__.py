"""Demo data: the four bank feeds, day by day, with planted compliance cases.

``generate()`` writes ``<landing>/<feed>/<YYYY-MM-DD>/<table>.csv`` and a ``_manifest.json`` per
feed folder for ``days`` consecutive days, and ``<landing>/_demo/planted.json`` naming every planted
case. docs/demo-data.md describes the population, its daily evolution and each planted case.

How it stays fast, small and reproducible:

* Deterministic: every choice comes from a 64-bit hash of (seed, purpose, index) or from a
  ``random.Random`` seeded that way. Nothing reads the clock or the global RNG.
* Streaming: snapshot tables are regenerated every day from the entity index. Employee i's
  identity, accounts, entitlements, assets and ratings are a pure function of (seed, i, day) plus a
  few sparse events (joiners, leavers, movers, RM handovers), so memory holds only those events,
  the organisation chart (one byte per team of ten) and the planted cases. Bulk tables (clients,
  complaints) draw their randomness from a ``random.Random`` per block of rows.
* Clean background: organic data never breaks a rule a planted case tests (leavers are revoked
  on time, nobody holds both payment_create and payment_approve, complaints are handled within
  14 days, ...), so a downstream test can expect the flagged set to equal the planted set.
  Departure-risk factors are the exception: they feed a score, and organic employees carry some.

The package, by what it does: vigil_demo.population (the bank: scales, reference data, employees,
accounts, clients, complaints), vigil_demo.planted (the planted cases and defects, planted.json),
vigil_demo.writers (the landing files, through vigil.ingest.importers.ContractCsvWriter) and this
module (World, which is all three, and generate).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Callable

from vigil_demo.planted import PlantedCases
from vigil_demo.population import POSITION_LEVELS, PRIVILEGED_ENTITLEMENTS, SCALES, SYSTEMS, Bank, Scale
from vigil_demo.writers import FeedWriters, _write_pass
from vigil_demo.cases import write_case_events
from vigil_demo.complainants import plant as plant_complainants_and_incidents

__all__ = ["SCALES", "Scale", "generate", "World", "SYSTEMS", "PRIVILEGED_ENTITLEMENTS", "POSITION_LEVELS"]


class World(FeedWriters, PlantedCases, Bank):
    """Everything derived from (scale, start, days, seed) that the daily writers share: the bank
    (population), its planted cases and the writers of its feeds."""

# ==================================================================================== generate

# Each feed depends only on the arguments, so feeds can be written by separate processes. A
# "pass" writes some feeds together: hr and iam share the walk over employees when they share a
# process. For each number of workers, the passes of each process (complaints are the most work,
# then iam, crm and hr).
_SPLITS: dict[int, tuple[tuple[tuple[str, ...], ...], ...]] = {
    1: ((("hr", "iam"), ("crm",), ("complaints",)),),
    2: ((("hr",), ("complaints",)), (("iam",), ("crm",))),
    3: ((("hr",), ("crm",)), (("iam",),), (("complaints",),)),
    4: ((("hr",),), (("iam",),), (("crm",),), (("complaints",),)),
}


def _worker(landing: Path, start: date, days: int, scale: str, seed: int, passes: tuple, queue) -> None:
    """A worker process: some passes, all days; progress lines and the outcome go to queue."""
    try:
        world = World(SCALES[scale], start, days, seed)
        for D in range(days):
            for feeds in passes:
                queue.put(("progress", _write_pass(world, landing, D, feeds)))
        queue.put(("done", None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        import traceback

        queue.put(("error", traceback.format_exc()))


def generate(landing: Path, start: date, days: int, scale: str = "small", seed: int = 42,
             progress: Callable[[str], None] | None = None, *, workers: int = 1) -> dict:
    """Write `days` days of the four feeds into `landing`, starting at `start`.

    Returns the planted-cases summary, also written to <landing>/_demo/planted.json. The same
    arguments give byte-identical files, whatever `workers` is: with 2 to 4, the feeds are
    written by that many processes (spawned, so the caller must not be a daemonic process, as
    some task runners are).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if days < 1:
        raise ValueError("days must be at least 1")
    if workers not in _SPLITS:
        raise ValueError("workers must be 1, 2, 3 or 4")
    landing = Path(landing)
    say = progress or (lambda message: None)
    world = World(SCALES[scale], start, days, seed)
    if workers == 1:
        for D in range(days):
            for feeds in _SPLITS[1][0]:
                say(_write_pass(world, landing, D, feeds))
    else:
        _run_workers(landing, start, days, scale, seed, workers, say)
    summary = world.summary()
    summary["cases"].update(plant_complainants_and_incidents(landing, start, days, summary))
    summary["itsm_case_events"] = write_case_events(landing, start, days, summary)  # the ITSM reports back
    out = landing / "_demo" / "planted.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"planted cases: {out}")
    return summary


def _run_workers(landing: Path, start: date, days: int, scale: str, seed: int, workers: int,
                 say: Callable[[str], None]) -> None:
    import multiprocessing
    import queue as queues

    ctx = multiprocessing.get_context("spawn")  # no fork: safe next to threads and open connections
    messages = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(landing, start, days, scale, seed, passes, messages), daemon=True)
             for passes in _SPLITS[workers]]
    for p in procs:
        p.start()
    running, failure = len(procs), None
    try:
        while running and failure is None:
            try:
                kind, text = messages.get(timeout=1)
            except queues.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    failure = "a demo-data worker died"
                continue
            if kind == "progress":
                say(text)
            elif kind == "done":
                running -= 1
            else:
                failure = text
    finally:
        for p in procs:
            if failure is not None:
                p.terminate()
            p.join()
    if failure is not None:
        raise RuntimeError(f"demo-data generation failed:\n{failure}")
