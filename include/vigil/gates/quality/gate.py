"""The data-quality gate: run committed GX suites against the warehouse, keep the results, build Data Docs.

    from vigil.gates.quality import run_suites
    result = run_suites(warehouse_url, "raw", run_date=D, out=out_dir, run_id=run_id)
    result.raise_for_critical()          # critical failures stop the night; warnings are reported

What is validated:

* ``raw`` suites: one night's partition of ``raw.<feed>__<table>`` (``_feed_date = D``), as the
  relation ``audit.dq_batch__raw__<feed>__<table>``, created for the run and dropped after it: a view
  on DuckDB (which skips other nights' row groups), an UNLOGGED table on PostgreSQL (GX scans the batch
  once per query; a view would re-scan every night the raw table holds, unindexed). A relation rather
  than a GX query asset, so GX reflects the real column types for the type expectations.
  Tables the ledger ``raw._vigil_loads`` has no delivery for on D (an optional feed table) are skipped.
* ``publish`` suites: the whole relation ``<schema>.<table>`` (``schema`` argument, default ``marts``),
  so the audit step can validate a staging schema before it is published.

GX really executes every expectation: PostgreSQL through GX's own postgres datasource, DuckDB through
GX's SQL execution engine on duckdb-engine (see vigil.gates.quality.engines). Results go to
``audit.dq_results`` in the warehouse (a rerun of the same date replaces that date's rows of the
suites it ran), GX validation result JSON to ``<out>/quality/validations/`` and Data Docs to
``<out>/data_docs/`` (``index.html``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from vigil.gates.quality.results import (
    AUDIT_SCHEMA,
    RESULT_COLUMNS,
    RESULTS_DDL,
    RESULTS_TABLE,
    ExpectationOutcome,
    GateResult,
    SuiteOutcome,
)
from vigil.gates.quality.suites import (
    EXPECTATIONS_DIR,
    HIRE_DATE_MAX_DAYS_AHEAD,
    LAYERS,
    ROW_COUNT_MIN_RATIO,
    SuiteRef,
    discover,
    load_json,
)
from vigil.store.warehouse import Warehouse
from vigil.ingest.contract import TABLES
from vigil.store.ddl import needs_ddl

log = logging.getLogger(__name__)

DEFAULT_PUBLISH_SCHEMA = "publish_candidate"
DATA_DOCS_SITE = "vigil"
#: Counts only (see _add_examples); failing row-level expectations get EXAMPLES values in a second pass.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
EXAMPLES = 10


@dataclass(frozen=True)
class _Target:
    table: str  # logical table (suite name part)
    relation: str  # schema.name that GX validates
    schema: str
    name: str


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # never phone home from a bank's pipeline
    for name in ("great_expectations", "great_expectations.expectations.metrics.util"):
        logging.getLogger(name).setLevel(logging.ERROR)


class QualityGate:
    """Holds one GX context (creating it costs seconds: create one per process and reuse it).

    `out` is the run's output directory: validation results under ``<out>/quality/validations``,
    Data Docs under ``<out>/data_docs``.
    """

    def __init__(self, out: Path | str, *, suites_dir: Path | str = EXPECTATIONS_DIR):
        self.out = Path(out)
        self.suites_dir = Path(suites_dir)
        self._context = None

    @property
    def validations_dir(self) -> Path:
        return self.out / "quality" / "validations"

    @property
    def data_docs_dir(self) -> Path:
        return self.out / "data_docs"

    @property
    def context(self):
        if self._context is None:
            self._context = self._make_context()
        return self._context

    def _make_context(self):
        _quiet_gx()
        import great_expectations as gx  # heavy: great_expectations
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        import vigil.gates.quality.engines  # noqa: F401 - registers the vigil_duckdb datasource type

        self.validations_dir.mkdir(parents=True, exist_ok=True)
        self.data_docs_dir.mkdir(parents=True, exist_ok=True)
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        # Suites, datasources and validation definitions live in memory (the committed JSON is the
        # source of truth; no connection string is ever written to disk); validation results and
        # Data Docs go to files that outlive the run.
        config.stores["validation_results_store"] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(self.validations_dir.resolve())},
        }
        config.data_docs_sites = {
            DATA_DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(self.data_docs_dir.resolve())},
                # Offline: every page loads its CSS/JS/fonts from <data_docs>/static/, never a CDN.
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                       "view": {"module_name": __name__, "class_name": "OfflineIndexPageView"}},
                "site_section_builders": {
                    section: {"view": {"module_name": __name__, "class_name": "OfflinePageView"}}
                    for section in ("expectations", "validations", "profiling")
                },
            }
        }
        return gx.get_context(mode="ephemeral", project_config=config)

    # ---------------------------------------------------------------------------------- run
    def run(
        self,
        warehouse_url: str,
        layer: str,
        tables: list[str] | tuple[str, ...] | None = None,
        *,
        run_date: dt.date,
        run_id: str | None = None,
        previous_counts: dict[str, int] | None = None,
        schema: str | None = None,
        persist: bool = True,
        build_docs: bool = True,
        memory_limit: str = "2GB",
        threads: int | None = None,
    ) -> GateResult:
        """Validate `tables` (all of the layer's suites when None) of `layer` for `run_date`.

        previous_counts: table -> rows of the previous night, overriding what the gate reads from
        the ledger raw._vigil_loads (raw layer) for the row-count check.
        """
        started = time.perf_counter()
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}: one of {LAYERS}")
        refs = discover(layer, tables, self.suites_dir)
        if not refs:
            log.warning("no %s suites in %s: nothing to validate", layer, self.suites_dir)
        run_id = run_id or f"dq-{layer}-{run_date.isoformat()}-{uuid.uuid4().hex[:8]}"
        wh = Warehouse.open(warehouse_url, memory_limit=memory_limit, threads=threads)
        engine = "postgresql" if wh.is_postgres else "duckdb"
        result = GateResult(run_id=run_id, run_date=run_date, layer=layer, engine=engine,
                            validations_dir=self.validations_dir)

        # 1. prepare (write connection): results table, the night's batch views; what was delivered
        targets, skipped, counts = self._prepare(wh, layer, refs, run_date, schema, previous_counts)
        result.timings["prepare"] = time.perf_counter() - started

        # 2. validate (GX, read-only on DuckDB)
        params_by_table = {
            t: {"min_row_count": math.ceil(ROW_COUNT_MIN_RATIO * counts.get(t, 0)),
                "max_hire_date": (run_date + dt.timedelta(days=HIRE_DATE_MAX_DAYS_AHEAD)).isoformat(),
                "run_date": run_date.isoformat()}
            for t in {r.table for r in refs}
        }
        validation_ids = []
        try:
            if targets:
                validation_ids = self._validate(result, warehouse_url, refs, targets, params_by_table, run_date,
                                                memory_limit=memory_limit, threads=threads)
        finally:
            self._drop_batches(wh, layer, targets)
        result.timings["validate"] = time.perf_counter() - started - result.timings["prepare"]
        for ref in refs:
            if ref.table in skipped:
                result.suites.append(SuiteOutcome(ref.name, layer, ref.table, "", ref.severity, True,
                                                  skipped=skipped[ref.table]))

        # 3. keep the results
        if persist:
            t0 = time.perf_counter()
            result.persisted_rows = self._persist(wh, result, [r.name for r in refs if r.table in targets])
            result.timings["persist"] = time.perf_counter() - t0
        if build_docs:
            t0 = time.perf_counter()
            result.data_docs_index = self._build_docs(validation_ids, [r.name for r in refs if r.table in targets])
            result.timings["data_docs"] = time.perf_counter() - t0
        result.seconds = time.perf_counter() - started
        log.info("data-quality gate %s %s: %d suites, %d critical and %d warning failures (%.1f s)%s",
                 layer, run_date, len(result.suites), len(result.failed_critical), len(result.failed_warning),
                 result.seconds, f"; Data Docs: {result.data_docs_index}" if result.data_docs_index else "")
        return result

    # ------------------------------------------------------------------------------ helpers
    def _prepare(self, wh, layer, refs, run_date, schema, previous_counts):
        targets: dict[str, _Target] = {}
        skipped: dict[str, str] = {}
        counts: dict[str, int] = {}
        tables = sorted({r.table for r in refs})
        postgres = wh.is_postgres
        with wh.transaction() as con:
            if needs_ddl(con, RESULTS_TABLE):  # else made by vigil.store.roles: a least-privilege role runs no DDL
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}")
                con.execute(RESULTS_DDL)
            if layer == "raw":
                by_raw = {t.raw_table: t for t in TABLES}
                loads = con.execute(
                    "SELECT feed, table_name, feed_date, row_count FROM raw._vigil_loads WHERE feed_date <= %s "
                    "ORDER BY feed_date", (run_date,)).fetchall()
                delivered = {f"{f}__{t}" for f, t, d, _ in loads if d == run_date}
                for f, t, d, n in loads:  # ordered: the latest earlier delivery wins
                    if d < run_date:
                        counts[f"{f}__{t}"] = int(n)
                for table in tables:
                    if table not in by_raw:
                        raise KeyError(f"raw suite for {table}, which is not a table of the feed contract")
                    if table not in delivered:
                        skipped[table] = f"raw.{table} has no delivery for {run_date}"
                        continue
                    view = f"dq_batch__raw__{table}"
                    night = f"SELECT * FROM raw.{table} WHERE _feed_date = DATE '{run_date.isoformat()}'"
                    if postgres and not _has_feed_date_index(con, table):
                        # Materialised: GX scans the batch once per query, and without an index on
                        # _feed_date a view would re-scan every night the raw table holds each time.
                        _drop_relation(con, f"{AUDIT_SCHEMA}.{view}", postgres)
                        con.execute(f"CREATE UNLOGGED TABLE {AUDIT_SCHEMA}.{view} AS {night}")
                        con.execute(f"ANALYZE {AUDIT_SCHEMA}.{view}")
                    else:  # DuckDB skips other nights' row groups by their _feed_date min/max; PG uses the index
                        _drop_relation(con, f"{AUDIT_SCHEMA}.{view}", postgres)
                        con.execute(f"CREATE VIEW {AUDIT_SCHEMA}.{view} AS {night}")
                    targets[table] = _Target(table, f"{AUDIT_SCHEMA}.{view}", AUDIT_SCHEMA, view)
            else:
                schema = schema or DEFAULT_PUBLISH_SCHEMA
                for table in tables:
                    targets[table] = _Target(table, f"{schema}.{table}", schema, table)
        counts.update(previous_counts or {})
        return targets, skipped, counts

    def _validate(self, result: GateResult, warehouse_url, refs: list[SuiteRef], targets, params_by_table, run_date,
                  *, memory_limit, threads) -> list:
        import great_expectations as gx  # heavy: great_expectations
        from great_expectations.core.run_identifier import RunIdentifier

        from vigil.gates.quality.engines import add_datasource  # heavy: great_expectations

        ctx = self.context
        ds_name = "warehouse"  # removed again below: one datasource per run
        ds = add_datasource(ctx, ds_name, warehouse_url, memory_limit=memory_limit, threads=threads)
        run_time = dt.datetime.now(dt.timezone.utc)
        gx_run_id = RunIdentifier(run_name=result.run_id, run_time=run_time)
        try:
            batch_defs = {}
            for table, target in targets.items():
                asset = ds.add_table_asset(name=table, table_name=target.name, schema_name=target.schema)
                batch_defs[table] = asset.add_batch_definition_whole_table("night" if result.layer == "raw" else "all")
            for ref in refs:
                if ref.table not in targets:
                    continue
                started = time.perf_counter()
                data = load_json(ref)
                suite = _upsert_suite(ctx, data)
                vd_name = f"{ds_name}:{ref.name}"
                vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=vd_name, data=batch_defs[ref.table], suite=suite))
                try:
                    res = vd.run(expectation_parameters=params_by_table[ref.table], result_format=RESULT_FORMAT,
                                 run_id=gx_run_id)
                finally:
                    ctx.validation_definitions.delete(vd_name)
                outcome = _suite_outcome(ref, targets[ref.table].relation, data, res, 0.0)
                _add_examples(outcome, res, batch_defs[ref.table], params_by_table[ref.table])
                outcome.seconds = time.perf_counter() - started
                result.suites.append(outcome)
        finally:
            # Release every DuckDB handle before anyone opens the file for writing again: the
            # execution engine's persistent connection and the datasource's own (test) engine.
            ds.get_execution_engine().close()
            ds.get_engine().dispose()
            ctx.data_sources.delete(ds_name)
        return [k for k in ctx.validation_results_store.list_keys() if k.run_id.run_name == result.run_id]

    def _drop_batches(self, wh, layer: str, targets: dict) -> None:
        if layer != "raw" or not targets:
            return
        with wh.transaction() as con:
            for t in targets.values():
                _drop_relation(con, t.relation, wh.is_postgres)

    def _persist(self, wh, result: GateResult, suites: list[str]) -> int:
        if not suites:
            return 0
        rows = result.rows(dt.datetime.now(dt.timezone.utc))
        placeholders = ", ".join(["%s"] * len(suites))
        cols = ", ".join(RESULT_COLUMNS)
        values = ", ".join(["%s"] * len(RESULT_COLUMNS))
        with wh.transaction() as con:
            con.execute(f"DELETE FROM {RESULTS_TABLE} WHERE run_date = %s AND suite IN ({placeholders})",
                        (result.run_date, *suites))
            for i in range(0, len(rows), 100):
                chunk = rows[i:i + 100]
                con.execute(f"INSERT INTO {RESULTS_TABLE} ({cols}) VALUES " + ", ".join([f"({values})"] * len(chunk)),
                            tuple(v for row in chunk for v in row))
        return len(rows)

    def _build_docs(self, validation_ids: list, suite_names: list[str]) -> Path:
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier  # heavy: great_expectations

        resources = [ExpectationSuiteIdentifier(name=n) for n in suite_names] + list(validation_ids)
        self.context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=resources or None)
        copy_offline_assets(self.data_docs_dir)
        return self.data_docs_dir / "index.html"


def _upsert_suite(ctx, data: dict):
    import great_expectations as gx  # heavy: great_expectations

    suite = gx.ExpectationSuite(**{k: v for k, v in data.items()})
    try:
        ctx.suites.delete(suite.name)
    except Exception:  # noqa: BLE001 - not there yet
        pass
    return ctx.suites.add(suite)


def _drop_relation(con, relation: str, postgres: bool) -> None:
    """Drop a batch relation, view or table (PostgreSQL refuses DROP TABLE on a view and vice versa)."""
    if postgres:
        found = con.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (relation,)).fetchall()
        if found:
            con.execute(f"DROP {'VIEW' if found[0][0] == 'v' else 'TABLE'} {relation}")
    else:
        con.execute(f"DROP VIEW IF EXISTS {relation}")


def _has_feed_date_index(con, table: str) -> bool:
    """PostgreSQL: does raw.<table> have an index led by _feed_date (then a view reads one night)?"""
    rows = con.execute(
        "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE i.indrelid = to_regclass(%s) AND a.attname = '_feed_date'", (f"raw.{table}",)).fetchall()
    return bool(rows)


def _add_examples(outcome: SuiteOutcome, res, batch_definition, params: dict) -> None:
    """Second pass, only over the expectations that failed on rows: fetch a few offending values.

    The first pass asks GX for counts only (partial_unexpected_count 0): GX otherwise runs one more
    query per row-level expectation to list examples, a full scan each time when nothing is wrong.
    """
    import great_expectations as gx  # heavy: great_expectations

    # Never for pseudonymisation checks: their offending values are exactly the PII that leaked.
    failing = {o.gx_id: o.expectation for o in outcome.expectations
               if not o.success and not o.error and o.unexpected_count and o.check != "pseudonymised"}
    configs = []
    for r in res.results:
        if r.expectation_config.id in failing:
            d = r.expectation_config.to_json_dict() | {"id": None}
            d["meta"] = dict(d.get("meta") or {}, vigil_outcome=failing[r.expectation_config.id])
            configs.append(d)
    # Row-level expectations list examples in SUMMARY; unexpected-rows queries only in COMPLETE
    # (GX fetches at most a couple of hundred of those rows).
    passes = (
        ([c for c in configs if c["type"] != "unexpected_rows_expectation"],
         {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}),
        ([c for c in configs if c["type"] == "unexpected_rows_expectation"], {"result_format": "COMPLETE"}),
    )
    examples: dict[str, list] = {}
    for group, result_format in passes:
        if not group:
            continue
        suite = gx.ExpectationSuite(name=f"{outcome.suite}.examples", expectations=group)
        try:
            again = batch_definition.get_batch().validate(suite, result_format=result_format,
                                                          expectation_parameters=params)
        except Exception as exc:  # noqa: BLE001 - examples are a courtesy; the verdict stands
            log.warning("could not fetch examples for %s: %s", outcome.suite, exc)
            continue
        for r in again.results:
            meta = r.expectation_config.meta or {}
            body = r.result or {}
            if r.expectation_config.type == "unexpected_rows_expectation":
                cols = meta.get("columns")
                rows = (body.get("details") or {}).get("unexpected_rows") or []
                examples[meta.get("vigil_outcome")] = [{c: row.get(c) for c in cols} if cols else row for row in rows]
            else:
                examples[meta.get("vigil_outcome")] = body.get("partial_unexpected_list") or []
    for o in outcome.expectations:
        if o.expectation in examples:
            o.partial_unexpected = _jsonable(examples[o.expectation])[:EXAMPLES]


def _default_name(cfg) -> str:
    """For hand-written suites without meta.name: the GX type and the column(s) it checks."""
    kw = cfg.kwargs or {}
    cols = kw.get("column") or kw.get("column_list") or [kw[k] for k in ("column_A", "column_B") if k in kw]
    if isinstance(cols, list):
        cols = ",".join(map(str, cols))
    return f"{cfg.type}:{cols}" if cols else cfg.type


def _suite_outcome(ref: SuiteRef, relation: str, data: dict, res, seconds: float) -> SuiteOutcome:
    order = {e.get("id"): i for i, e in enumerate(data.get("expectations", []))}
    results = sorted(res.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    outcomes = []
    seen: dict[str, int] = {}
    for r in results:
        cfg = r.expectation_config
        meta = cfg.meta or {}
        severity = getattr(cfg.severity, "value", cfg.severity) or ref.severity
        body = r.result or {}
        error = None
        info = r.exception_info or {}
        if info.get("raised_exception"):
            error = info.get("exception_message")
        else:  # a dict of metric id -> exception info when metrics failed
            for v in info.values():
                if isinstance(v, dict) and v.get("raised_exception"):
                    error = v.get("exception_message") or "metric could not be computed"
                    break
        observed = body.get("observed_value")
        unexpected = body.get("unexpected_count")
        examples = body.get("partial_unexpected_list") or []
        if cfg.type == "unexpected_rows_expectation" and isinstance(observed, int):
            unexpected = observed
        name = meta.get("name") or _default_name(cfg)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # names key audit.dq_results: keep them unique within the suite
            name = f"{name}#{seen[name]}"
        outcomes.append(ExpectationOutcome(
            suite=ref.name, table=ref.table, expectation=name,
            expectation_type=cfg.type, check=meta.get("check", ""), severity=str(severity),
            success=bool(r.success) and error is None,
            element_count=body.get("element_count"), unexpected_count=unexpected,
            unexpected_percent=body.get("unexpected_percent"),
            observed=_jsonable(observed),
            partial_unexpected=_jsonable(examples)[:EXAMPLES],
            error=error, gx_id=cfg.id,
        ))
    # every row-level check reports on the same batch: give table-level ones its row count too
    rows = next((o.element_count for o in outcomes if o.element_count is not None), None)
    for o in outcomes:
        if o.element_count is None and o.check == "referential":
            o.element_count = rows
    return SuiteOutcome(ref.name, ref.layer, ref.table, relation, ref.severity,
                        all(o.success for o in outcomes), outcomes, seconds=seconds)


def _jsonable(v):
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


_GATES: dict[tuple[Path, Path], QualityGate] = {}


def run_suites(
    warehouse_url: str,
    layer: str,
    tables: list[str] | tuple[str, ...] | None = None,
    *,
    run_date: dt.date,
    out: Path | str,
    run_id: str | None = None,
    previous_counts: dict[str, int] | None = None,
    schema: str | None = None,
    suites_dir: Path | str = EXPECTATIONS_DIR,
    persist: bool = True,
    build_docs: bool = True,
    memory_limit: str = "2GB",
    threads: int | None = None,
) -> GateResult:
    """Run the committed suites of `layer` (``raw`` or ``publish``) for `run_date`; see the module doc.

    Reuses one GX context per (out, suites_dir) within the process.
    """
    key = (Path(out).resolve(), Path(suites_dir).resolve())
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = QualityGate(out, suites_dir=suites_dir)
    return gate.run(warehouse_url, layer, tables, run_date=run_date, run_id=run_id, previous_counts=previous_counts,
                    schema=schema, persist=persist, build_docs=build_docs, memory_limit=memory_limit, threads=threads)


# ------------------------------------------------------------------------------ offline Data Docs
# GX's page templates load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from CDNs, and
# the index's validation table is drawn by that JavaScript: on a workstation without internet access
# the page stays empty. The views below render GX's own templates with every CDN address replaced by
# a copy shipped in vigil/quality/static/vendor/ (licenses beside them), which copy_offline_assets
# puts in <data_docs>/static/vendor/. Page depth decides the relative path, as GX's own
# top_navbar.j2 computes it for static/images/.
VENDOR_DIR = Path(__file__).parent / "static" / "vendor"

#: GX template text -> its replacement (Jinja; vigil_static() is the page's relative static/ dir).
OFFLINE_REPLACEMENTS: dict[str, str] = {
    **{url: "{{ vigil_static() }}vendor/" + file for url, file in {
        "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
        "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
        "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
            "bootstrap-table-filter-control.min.css",
        "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
            "bootstrap-table-filter-control.min.css",
        "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
            "bootstrap-table-filter-control.min.js",
        "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
        "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
        "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
            "bootstrap-datepicker.min.css",
        "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
            "bootstrap-datepicker.min.js",
        "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
            "bootstrap-prefers-dark.css",
        "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
        "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
        "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
        "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
        "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
        "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    }.items()},
    # GX's favicon.j2 climbs one level too few from a validation page
    '((expectation_suite_name_dot_count + 3) * "../") + "static/images/"': 'vigil_static() + "images/"',
    # the navbar logo and the dark-mode logo: GX's own images, already in static/images/
    '"https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"': 'vigil_static() + "images/"',
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png":
        "{{ vigil_static() }}images/logo-long.png",
}
#: Subresource-integrity + CORS attributes: a file:// page cannot fetch a crossorigin script.
_SRI = re.compile(r'\s+integrity="[^"]*"\s+crossorigin="anonymous"')


def _offline_source(source: str) -> str:
    for old, new in OFFLINE_REPLACEMENTS.items():
        source = source.replace(old, new)
    return _SRI.sub("", source)


def _vigil_static(context) -> str:
    """The relative path from the page being rendered to <data_docs>/static/."""
    renderer = context.get("renderer_type") or ""
    dots = (context.get("expectation_suite_name") or "").count(".")
    if "ValidationResults" in renderer or "ProfilingResults" in renderer:
        return "../" * (dots + 4) + "static/"
    if "ExpectationSuite" in renderer:
        return "../" * (dots + 1) + "static/"
    return "./static/"


def _make_offline(view) -> None:
    from jinja2 import BaseLoader, pass_context

    inner = view.env.loader

    class OfflineLoader(BaseLoader):
        def get_source(self, environment, template):
            source, filename, uptodate = inner.get_source(environment, template)
            return _offline_source(source), filename, uptodate

    view.env.loader = OfflineLoader()
    view.env.globals["vigil_static"] = pass_context(_vigil_static)


def _offline_views():
    from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView  # heavy: great_expectations

    class OfflinePageView(DefaultJinjaPageView):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            _make_offline(self)

    class OfflineIndexPageView(DefaultJinjaIndexPageView):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            _make_offline(self)

    return OfflinePageView, OfflineIndexPageView


def __getattr__(name: str):
    # GX is imported lazily (it takes seconds): the views exist once GX asks for them by name.
    if name in ("OfflinePageView", "OfflineIndexPageView"):
        page, index = _offline_views()
        globals().update(OfflinePageView=page, OfflineIndexPageView=index)
        return globals()[name]
    raise AttributeError(name)


def copy_offline_assets(data_docs_dir: Path) -> None:
    """Put the vendored CSS/JS/fonts in <data_docs>/static/vendor/ (files already there are kept)."""
    import shutil

    for src in VENDOR_DIR.rglob("*"):
        if src.is_file():
            dst = data_docs_dir / "static" / "vendor" / src.relative_to(VENDOR_DIR)
            if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
