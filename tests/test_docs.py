"""Docs say what the code does: the feed contract section is the contract module, rendered."""

from __future__ import annotations

import re

from conftest import REPO
from vigil.transforms.contract import TABLES, render_markdown


def test_feed_contract_doc_matches_the_contract_module():
    text = (REPO / "docs" / "feeds.md").read_text()
    section = re.search(r"<!-- contract:begin[^>]*-->\n(.*)<!-- contract:end -->", text, re.S)
    assert section, "docs/feeds.md lost its contract markers"
    assert section.group(1) == render_markdown(), "regenerate: python -m vigil.transforms.contract"


def test_every_contract_column_is_documented():
    text = (REPO / "docs" / "feeds.md").read_text()
    for t in TABLES:
        assert f"`{t.name}.csv`" in text
        for c in t.columns:
            assert f"`{c.name}`" in text
