"""Docs say what the code does: the feed contract section is the contract module, rendered."""

from __future__ import annotations

import re

from fixtures.nights import REPO
from vigil.ingest.contract import TABLES, render_markdown


def test_feed_contract_doc_matches_the_contract_module():
    text = (REPO / "docs" / "feeds.md").read_text()
    section = re.search(r"<!-- contract:begin[^>]*-->\n(.*)<!-- contract:end -->", text, re.S)
    assert section, "docs/feeds.md lost its contract markers"
    assert section.group(1) == render_markdown(), "regenerate: python -m vigil.ingest.contract"


def test_every_contract_column_is_documented():
    text = (REPO / "docs" / "feeds.md").read_text()
    for t in TABLES:
        assert f"`{t.name}.csv`" in text
        for c in t.columns:
            assert f"`{c.name}`" in text


# --------------------------------------------------------------------------- docs/tickets.md: the IAM teams' contract

TICKETS_DOC = REPO / "docs" / "tickets.md"


def _documented(name: str) -> bool:
    return f"`{name}`" in TICKETS_DOC.read_text()


def test_every_ticket_field_action_and_status_is_documented():
    import json

    from vigil.actions.tickets import model

    schema = json.loads((REPO / "docs" / "tickets.schema.json").read_text())
    action_items = schema["properties"]["actions"]["items"]["oneOf"]
    names = (
        list(schema["properties"])
        + list(schema["properties"]["evidence"]["properties"])
        + [a["properties"]["action"]["const"] for a in action_items]
        + [field for a in action_items for field in a["properties"]]
        + list(schema["properties"]["kind"]["enum"])
        + list(model.STATUSES)
        + list(model.CSV_COLUMNS)
    )
    missing = sorted({n for n in names if not _documented(n)})
    assert not missing, f"docs/tickets.md does not mention {missing}"


def test_every_delivery_config_key_and_policy_setting_is_documented():
    import dataclasses

    import yaml

    from vigil.actions.delivery.config import Policy

    example = yaml.safe_load((REPO / "config" / "delivery.example.yml").read_text())
    keys = set(example) | set(example["defaults"]) | {f.name for f in dataclasses.fields(Policy)}
    for channel in example["channels"].values():
        keys |= set(channel) | set(channel.get("policy") or {})
    missing = sorted(k for k in keys if not _documented(k))
    assert not missing, f"docs/tickets.md does not document the delivery config keys {missing}"


def test_every_audit_log_column_is_documented():
    from vigil.store.audit import COLUMNS

    missing = [c for c in COLUMNS if not _documented(c)]
    assert not missing, f"docs/tickets.md does not describe the audit columns {missing}"


def test_the_documented_webhook_check_verifies_what_vigil_signs_and_nothing_else():
    import base64

    from vigil.actions.delivery.signing import sign
    from vigil.actions.delivery.signing import decode_webhook_secret

    block = re.search(r"\*\*Verifying, on the consumer side\.\*\*.*?```python\n(.*?)```", TICKETS_DOC.read_text(), re.S)
    assert block, "docs/tickets.md lost its webhook verification snippet"
    namespace: dict = {}
    exec(block.group(1), namespace)  # the consumer's code exactly as documented
    verify = namespace["verify"]

    body = b'{"data":{"ticket_id":"VGL-0123456789abcdef0123456789abcdef"},"type":"vigil.leaver_revocation.created"}'
    ts, msg_id = 1_772_500_000, "msg_0123456789abcdef0123456789abcdef"
    for secret in ("whsec_" + base64.b64encode(b"k" * 32).decode(), "a-raw-secret-of-at-least-24-bytes"):
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts),
                   "webhook-signature": sign(decode_webhook_secret(secret), msg_id, ts, body)}
        assert verify(secret, headers, body, now=ts + 300)
        flipped = bytearray(body)
        flipped[10] ^= 0x01
        assert not verify(secret, headers, bytes(flipped), now=ts)
        assert not verify(secret, dict(headers, **{"webhook-id": msg_id + "x"}), body, now=ts)
        assert not verify(secret, headers, body, now=ts + 301)
        assert not verify(secret, headers, body, now=ts - 301)
        assert not verify("whsec_" + base64.b64encode(b"o" * 32).decode(), headers, body, now=ts)


def test_ticket_doc_links_resolve_and_the_readme_links_it():
    text = TICKETS_DOC.read_text()
    links = [t for t in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text) if "://" not in t]
    assert links, "docs/tickets.md links nothing"
    broken = [t for t in links if not (TICKETS_DOC.parent / t).exists()]
    assert not broken, f"docs/tickets.md links to missing files {broken}"
    assert "docs/tickets.md" in (REPO / "README.md").read_text()
