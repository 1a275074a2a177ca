"""pytest fixtures shared by every test folder; plain helpers live in tests/fixtures/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from fixtures.demo import DemoWarehouse, build_demo_warehouse
from fixtures.nights import REPO, TEST_KEY, write_night
from fixtures.postgres import fresh_database

# Airflow reads its configuration at import time: isolate it before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="vigil-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")
os.environ.pop("VIGIL_PSEUDONYMISATION_KEY", None)  # each test states the key it uses


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """`make test` runs on both cores (pytest-xdist, --dist loadgroup): one work unit per test file, so
    a file's module fixtures are built once; the files that start a real Airflow share one unit, so two
    Airflows never fight over two cores; the units with the most slow tests go first, so both workers
    finish together."""
    if config.getoption("dist", "no") == "no":
        return
    unit_of = {}
    for item in items:
        unit = "realairflow" if item.get_closest_marker("realairflow") else item.nodeid.split("::")[0]
        unit_of[item.nodeid] = unit
        item.add_marker(pytest.mark.xdist_group(unit))
    slow = {}
    for item in items:
        slow[unit_of[item.nodeid]] = slow.get(unit_of[item.nodeid], 0) + bool(item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[unit_of[item.nodeid]])


@pytest.fixture
def settings(tmp_path):
    from vigil.config import Settings

    return Settings(
        landing=str(tmp_path / "landing"),
        warehouse=str(tmp_path / "warehouse" / "vigil.duckdb"),
        out=tmp_path / "out",
        mode="production",
        pseudonymisation_key=TEST_KEY,
        duckdb_memory_limit="1GB",
        create_warehouse=True,  # each test starts its own warehouse, on purpose
    )


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    """A new, empty warehouse on each engine: a DuckDB file path, then a fresh PostgreSQL database."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "wh.duckdb")


@pytest.fixture
def night(settings) -> Path:
    """A valid minimal night for D in the settings' landing directory."""
    return write_night(Path(settings.landing))


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> DemoWarehouse:
    return build_demo_warehouse(tmp_path_factory.mktemp("demo-warehouse"))
