"""Publish copies candidate tables into `publish` all at once, or not at all."""

from __future__ import annotations

import pytest

from vigil.store.publish import publish
from vigil.store.warehouse import Warehouse


def _exec(url: str, *statements: str) -> None:
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        for sql in statements:
            con.execute(sql)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path):
    if request.param == "duckdb":
        return str(tmp_path / "wh.duckdb")
    return request.getfixturevalue("pg_url")


def test_publish_copies_every_candidate_table_and_replaces_last_nights_rows(warehouse_url):
    _exec(warehouse_url, "CREATE SCHEMA publish_candidate",
          "CREATE TABLE publish_candidate.a_exposure (id VARCHAR, n INTEGER)",
          "INSERT INTO publish_candidate.a_exposure VALUES ('x', 1), ('y', 2)",
          "CREATE TABLE publish_candidate.b_kpis (kpi VARCHAR)",
          "INSERT INTO publish_candidate.b_kpis VALUES ('k')")
    assert publish(warehouse_url) == {"a_exposure": 2, "b_kpis": 1}
    _exec(warehouse_url, "DELETE FROM publish_candidate.a_exposure",
          "INSERT INTO publish_candidate.a_exposure VALUES ('z', 3)")
    assert publish(warehouse_url)["a_exposure"] == 1
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        assert wh.fetchall(con, "SELECT id, n FROM publish.a_exposure") == [("z", 3)]


def test_a_failure_part_way_leaves_every_published_table_as_it_was(warehouse_url):
    _exec(warehouse_url, "CREATE SCHEMA publish_candidate",
          "CREATE TABLE publish_candidate.a_exposure (id VARCHAR)",
          "INSERT INTO publish_candidate.a_exposure VALUES ('night-1')",
          "CREATE TABLE publish_candidate.b_kpis (v INTEGER)",
          "INSERT INTO publish_candidate.b_kpis VALUES (1)")
    publish(warehouse_url)
    wh = Warehouse.open(warehouse_url)
    # night 2: the first table copies fine, the second breaks a constraint the published table carries
    _exec(warehouse_url, "DELETE FROM publish_candidate.a_exposure",
          "INSERT INTO publish_candidate.a_exposure VALUES ('night-2')",
          "DROP TABLE publish.b_kpis", "CREATE TABLE publish.b_kpis (v INTEGER CHECK (v > 0))",
          "INSERT INTO publish.b_kpis VALUES (1)",
          "UPDATE publish_candidate.b_kpis SET v = -1")
    before = wh.table_checksums(("publish",))
    with pytest.raises(Exception):
        publish(warehouse_url)
    assert wh.table_checksums(("publish",)) == before


def test_publishing_nothing_is_an_error(warehouse_url):
    _exec(warehouse_url, "CREATE SCHEMA publish_candidate")
    with pytest.raises(RuntimeError, match="nothing to publish"):
        publish(warehouse_url)
