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
if os.environ.get("PYTEST_XDIST_WORKER"):
    # each xdist worker its own Airflow home and metadata database (the controller's would be shared)
    os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")
os.environ.pop("VIGIL_PSEUDONYMISATION_KEY", None)  # each test states the key it uses


def _work_unit(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    # the files that start a real Airflow share one unit: two Airflows never fight over two cores
    return "realairflow" if path.startswith("tests/dags/test_airflow_") else path


def pytest_xdist_make_scheduler(config, log):
    """`make test` runs on both cores (pytest-xdist): one work unit per test file, so a file's module
    fixtures are built once, as in a run on one core."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return ByFile(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the real-Airflow unit (the longest, ~9 min) first, then the units with the most
    slow tests, so both workers finish together."""
    if not hasattr(config, "workerinput"):
        return
    slow: dict[str, int] = {}
    for item in items:
        unit = _work_unit(item.nodeid)
        slow[unit] = slow.get(unit, 0) + bool(item.get_closest_marker("slow"))
    items.sort(key=lambda item: (_work_unit(item.nodeid) != "realairflow", -slow[_work_unit(item.nodeid)]))


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
