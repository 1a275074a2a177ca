"""Ticket delivery against real servers on loopback (docs/tickets.md, "Delivery"):

* SCIM 2.0: scim2-server, an independent implementation, started in the test; after delivery it
  shows the user inactive and out of the groups; writes per resource are counted by its storage;
* webhooks: an http.server consumer verifying Standard Webhooks signatures with its own code and
  de-duplicating by webhook-id (what a consumer must do);
* file drops on the local disk.

Every fault test asserts the consumer's effective state, the outbox rows and what is alerted.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import yaml

import vigil.actions.tickets.delivery as delivery
from fixtures.tickets import (
    FAST, WEBHOOK_SECRET, Fault, Leaver, Notice, ScimServer, WebhookConsumer, build_night, free_port, query,
    verify_standard_webhook, write_config,
)
from vigil.config import ConfigError
from vigil.actions.tickets import create_tickets, deliver_tickets, plan_tickets
from vigil.actions.delivery.http import parse_retry_after, redact
from vigil.actions.tickets.channels.scim import disable_payload, remove_member_payload
from vigil.actions.delivery.signing import sign
from vigil.actions.delivery.config import DeliveryConfig, Policy, load_delivery_config
from vigil.actions.tickets.delivery import backoff_delay
from vigil.store.warehouse import Warehouse

D = dt.date(2026, 3, 2)
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
TOKEN = "scim-test-token-0123456789"


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    monkeypatch.setenv("TEST_SCIM_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.delenv("VIGIL_DELIVERY_CONFIG", raising=False)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "wh.duckdb")


@pytest.fixture
def url(tmp_path):
    return str(tmp_path / "wh.duckdb")


@pytest.fixture
def scim():
    with ScimServer(TOKEN) as server:
        yield server


@pytest.fixture
def hook():
    with WebhookConsumer() as consumer:
        yield consumer


def make_config(tmp_path, *, scim: ScimServer | None = None, scim_url: str | None = None,
                hook: WebhookConsumer | None = None, policy: dict | None = None, systems: dict | None = None,
                **channels) -> object:
    chans = dict(channels)
    if scim or scim_url:
        chans["iam_scim"] = {"type": "scim", "base_url": scim_url or scim.base_url, "token_env": "TEST_SCIM_TOKEN"}
    if hook:
        chans["snow"] = {"type": "webhook", "url": hook.url, "secret_env": "TEST_WEBHOOK_SECRET",
                         "format": "servicenow"}
    if systems is None:
        systems = {}
        if scim or scim_url:
            systems["AD"] = ["iam_scim"]
        if hook:
            systems.setdefault("AD", ["snow"])
            systems["Payments"] = ["snow"]
    return write_config(tmp_path / "delivery.yml", {"defaults": dict(FAST, **(policy or {})), "channels": chans,
                                                    "systems": systems})


def outbox(url: str) -> list[dict]:
    return query(url, "SELECT ticket_id, target, state, attempts, last_status, last_error FROM tickets.outbox "
                      "ORDER BY outbox_id")


def attempts(url: str) -> list[dict]:
    return query(url, "SELECT request, http_status, outcome, error, attempt_no, started_at, idempotency_key "
                      "FROM tickets.delivery_attempts ORDER BY started_at, call_no")


def leaver_on_scim(scim: ScimServer, account="a1", groups=("staff", "vpn_access")):
    uid = scim.add_user(account)
    bystander = scim.add_user("bystander")
    gids = {g: scim.add_group(g, [uid, bystander]) for g in groups}
    return uid, bystander, gids


def setup_scim_night(url, tmp_path, scim, policy=None, groups=("staff", "vpn_access")):
    uid, bystander, gids = leaver_on_scim(scim, groups=groups)
    build_night(url, D, [Leaver("E1", "AD", "a1", tuple(groups))])
    cfg = make_config(tmp_path, scim=scim, policy=policy)
    created = create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    assert created["created"] == 1 and created["outbox"] == 1
    return cfg, uid, bystander, gids


# --------------------------------------------------------------------------- SCIM end to end


def test_scim_delivery_disables_the_user_and_removes_its_groups(any_url, tmp_path, scim):
    url = any_url
    cfg, uid, bystander, gids = setup_scim_night(url, tmp_path, scim)
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="deliver-1", now=NOW)

    assert scim.user(uid)["active"] is False
    assert all(scim.members(g) == {bystander} for g in gids.values())  # out of the groups, others stay
    assert scim.user(bystander)["active"] is True
    assert scim.writes == {("User", uid): 1, **{("Group", g): 1 for g in gids.values()}}
    assert [(r["state"], r["attempts"], r["last_status"]) for r in outbox(url)] == [("delivered", 1, "204")]
    assert query(url, "SELECT status FROM tickets.tickets") == [{"status": "acknowledged"}]
    assert result["delivered"] == 1 and result["acknowledged"] == 1 and result["dead_lettered"] == []
    calls = attempts(url)
    assert len(calls) == len(scim.requests) == result["requests"] == 5  # one attempt row per HTTP call
    assert [c["request"] for c in calls] == ["GET /Users?filter", "PATCH /Users/{id}", "GET /Groups?filter",
                                             "PATCH /Groups/{id}", "PATCH /Groups/{id}"]
    patch = [h for m, p, h in scim.requests if m == "PATCH"][0]
    assert patch["authorization"] == f"Bearer {TOKEN}" and patch["idempotency-key"].startswith("msg_")
    assert patch["if-match"] == 'W/"1"'  # the ETag read just before
    events = [e["event"] for e in query(url, "SELECT event FROM audit.audit_log ORDER BY occurred_at, event")]
    assert events == ["created", "acknowledged", "sent"]  # sent and acknowledged at the same instant

    # the same night again: zero new tickets, zero new requests
    seen = len(scim.requests)
    assert create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)["created"] == 0
    again = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="deliver-2", now=NOW + dt.timedelta(hours=1))
    assert again["claimed"] == 0 and len(scim.requests) == seen


def test_a_revised_priority_is_redelivered_as_an_update_and_scim_changes_nothing_twice(any_url, tmp_path, scim, hook):
    """Issue 18 item 4: a revision (P2 -> P1) goes out once more on every channel of the ticket: the
    webhook consumer gets one update under a new webhook-id (same correlation id, new urgency);
    SCIM reads the user and its groups again and, the change being made, writes nothing."""
    url = any_url
    uid, bystander, gids = leaver_on_scim(scim)
    cfg = make_config(tmp_path, scim=scim, hook=hook, systems={"AD": ["iam_scim", "snow"]})
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff", "vpn_access"), priority="P2")])
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="deliver-1", now=NOW)
    writes = dict(scim.writes)
    assert scim.user(uid)["active"] is False and len(hook.effective) == 1

    n2 = D + dt.timedelta(days=1)
    build_night(url, n2, [Leaver("E1", "AD", "a1", ("staff", "vpn_access"), priority="P1")])
    later = NOW + dt.timedelta(days=1)
    revised = create_tickets(url, n2, "run-2", out=tmp_path / "out", config_path=cfg, now=later)["revised"]
    assert [(r["revision"], r["to"], r["channels"]) for r in revised] == [(2, "P1", ["iam_scim", "snow"])]
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="deliver-2", now=later)
    assert result["delivered"] == 2 and result["dead_lettered"] == []
    assert scim.writes == writes  # nothing left to change: no second PATCH of the user or its groups
    bodies = sorted(hook.tickets(), key=lambda b: b["u_vigil_ticket"]["revision"])
    assert [(b["correlation_id"], b["urgency"], b["u_vigil_ticket"]["revision"]) for b in bodies] == [
        (revised[0]["ticket_id"], "2", 1), (revised[0]["ticket_id"], "1", 2)]
    # a rerun of the night and of the delivery: nothing new anywhere
    seen, received = len(scim.requests), len(hook.received)
    assert create_tickets(url, n2, "run-2", out=tmp_path / "out", config_path=cfg, now=later)["revised"] == []
    assert deliver_tickets(url, cfg, out=tmp_path / "out", run_id="deliver-3", now=later)["claimed"] == 0
    assert len(scim.requests) == seen and len(hook.received) == received
    assert query(url, "SELECT status FROM tickets.tickets") == [{"status": "sent"}]


def test_scim_payloads_are_valid_rfc7644_patch_ops():
    assert disable_payload() == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                 "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert remove_member_payload('x"1') == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": 'members[value eq "x\\"1"]'}]}


@pytest.mark.parametrize("user_id", ["u-1", 'x"1', "back\\slash"])
def test_scim_payloads_are_what_scim2_models_builds_and_validates(user_id):
    # the channel writes the two PatchOp shapes out (no scim2-models import on the same-day path);
    # scim2-models, an independent implementation, must build and accept exactly the same documents
    from scim2_models import Context, Group, PatchOp, PatchOperation, User

    def dump(op):
        return op.model_dump(scim_ctx=Context.RESOURCE_PATCH_REQUEST)

    assert disable_payload() == dump(PatchOp[User](operations=[
        PatchOperation[User](op="replace", path="active", value=False)]))
    assert remove_member_payload(user_id) == dump(PatchOp[Group](operations=[
        PatchOperation[Group](op="remove", path=f"members[value eq {json.dumps(user_id)}]")]))
    for payload, kind in ((disable_payload(), User), (remove_member_payload(user_id), Group)):
        assert dump(PatchOp[kind].model_validate(payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST)) == payload


def test_notice_restriction_removes_only_the_privileged_group(url, tmp_path, scim):
    uid = scim.add_user("a4")
    admins, staff = scim.add_group("Domain Admins", [uid]), scim.add_group("staff", [uid])
    build_night(url, D, [], [Notice("E4", "AD", "a4", "domain_admin")])
    cfg = make_config(tmp_path, scim=scim)
    conf = yaml.safe_load(cfg.read_text())
    conf["channels"]["iam_scim"]["groups"] = {"domain_admin": "Domain Admins"}  # the system's own group name
    cfg.write_text(yaml.safe_dump(conf))
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert scim.members(admins) == set() and scim.members(staff) == {uid}
    assert scim.user(uid)["active"] is True  # notice: frozen, not disabled


def test_a_user_the_server_no_longer_has_counts_as_done(url, tmp_path, scim):
    build_night(url, D, [Leaver("E1", "AD", "gone-1", ("staff",))])  # never provisioned on the server
    cfg = make_config(tmp_path, scim=scim)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert result["dead_lettered"] == [] and outbox(url)[0]["state"] == "delivered"
    assert scim.count("PATCH") == 0


def test_a_404_on_patch_because_the_user_was_just_deleted_counts_as_done(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=())
    scim.faults.append(Fault("PATCH", "/Users/", before=lambda: scim.delete_user(uid)))
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert scim.user(uid) is None and result["dead_lettered"] == []
    assert [c["http_status"] for c in attempts(url)] == [200, 404]
    assert outbox(url)[0]["state"] == "delivered"


def test_412_precondition_failed_rereads_and_retries_with_the_new_etag(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=())
    # someone else changes the user between our read and our PATCH: a real 412 from the server
    scim.faults.append(Fault("PATCH", "/Users/", before=lambda: scim.patch_user_raw(uid, {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "renamed"}]})))
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    user = scim.user(uid)
    assert user["active"] is False and user["displayName"] == "renamed"  # both changes kept
    assert [c["http_status"] for c in attempts(url)] == [200, 412, 200, 204]
    patches = [h.get("if-match") for m, _, h in scim.requests if m == "PATCH" and "displayName" not in str(h)]
    assert patches[-1] != patches[0]  # retried on the re-read version
    assert result["dead_lettered"] == [] and outbox(url)[0]["attempts"] == 1


def test_409_conflict_rereads_and_retries(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=())
    scim.faults.append(Fault("PATCH", "/Users/", status=409, body='{"status":"409","scimType":"uniqueness"}'))
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert scim.user(uid)["active"] is False and result["dead_lettered"] == []
    assert [c["http_status"] for c in attempts(url)] == [200, 409, 200, 204]


# --------------------------------------------------------------------------- retries and faults


def test_consumer_failing_with_5xx_then_recovering_gets_exactly_one_change(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=())
    scim.faults.append(Fault("PATCH", "/Users/", status=503, times=2, body="maintenance"))
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert scim.user(uid)["active"] is False and scim.writes == {("User", uid): 1}
    assert [(c["attempt_no"], c["http_status"]) for c in attempts(url)] == [
        (1, 200), (1, 503), (2, 200), (2, 503), (3, 200), (3, 204)]
    assert [(r["state"], r["attempts"]) for r in outbox(url)] == [("delivered", 3)]
    assert result["dead_lettered"] == []


def test_429_with_retry_after_is_honoured(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=())
    scim.faults.append(Fault("PATCH", "/Users/", status=429, headers={"Retry-After": "1"}))
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    calls = attempts(url)
    throttled = next(c for c in calls if c["http_status"] == 429)
    retry = next(c for c in calls if c["attempt_no"] == 2)
    assert (retry["started_at"] - throttled["started_at"]).total_seconds() >= 1.0  # backoff is 0.01-0.05 s
    assert scim.user(uid)["active"] is False and outbox(url)[0]["state"] == "delivered"


def test_a_retry_after_longer_than_the_inline_wait_is_left_for_the_next_run(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=())
    scim.faults.append(Fault("PATCH", "/Users/", status=429, headers={"Retry-After": "120"}))
    first = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d1", now=NOW)
    row = query(url, "SELECT state, attempts, next_attempt_at FROM tickets.outbox")[0]
    assert first["rescheduled"] == 1 and (row["state"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] >= NOW + dt.timedelta(seconds=120)
    assert scim.user(uid)["active"] is True
    early = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d2", now=NOW + dt.timedelta(seconds=119))
    assert early["claimed"] == 0  # not before Retry-After
    late = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d3", now=NOW + dt.timedelta(seconds=125))
    assert late["delivered"] == 1 and scim.user(uid)["active"] is False
    assert outbox(url)[0]["attempts"] == 2


def test_a_timeout_while_the_server_still_applies_the_change_gives_one_effect(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=(), policy={"timeout_seconds": 0.5})
    scim.faults.append(Fault("PATCH", "/Users/", delay_after=1.5))  # applied, then answered too late
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert [c["outcome"] for c in attempts(url)] == ["ok", "timeout", "ok"]  # re-read: already inactive
    assert scim.writes == {("User", uid): 1} and scim.count("PATCH") == 1
    assert [(r["state"], r["attempts"]) for r in outbox(url)] == [("delivered", 2)]
    assert result["dead_lettered"] == []


def test_consumer_down_for_k_attempts_then_up_gets_one_delivery(url, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}/v2"
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff",))])
    cfg = make_config(tmp_path, scim_url=base, policy={"backoff_base_seconds": 10, "backoff_max_seconds": 10,
                                                       "max_inline_wait_seconds": 1})
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    for k in range(2):  # nothing listens: connection refused, twice
        r = deliver_tickets(url, cfg, out=tmp_path / "out", run_id=f"d{k}", now=NOW + dt.timedelta(minutes=k))
        assert r["rescheduled"] == 1
    assert [(o["state"], o["attempts"], o["last_status"]) for o in outbox(url)] == [("pending", 2, "connection_error")]
    with ScimServer(TOKEN, port=port) as scim:
        uid = scim.add_user("a1")
        gid = scim.add_group("staff", [uid])
        r = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d3", now=NOW + dt.timedelta(minutes=5))
        assert r["delivered"] == 1 and scim.user(uid)["active"] is False and scim.members(gid) == set()
        assert scim.writes == {("User", uid): 1, ("Group", gid): 1}
    assert [c["outcome"] for c in attempts(url)][:2] == ["connection_error", "connection_error"]
    assert [(o["state"], o["attempts"]) for o in outbox(url)] == [("delivered", 3)]


def test_a_400_dead_letters_at_once_with_the_response_redacted(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=())
    body = ('{"status":"400","scimType":"invalidValue","detail":"user jane.doe@bank.test (+44 7700 900123) '
            'rejected; token=abcdef123456 Authorization: Bearer sk_live_abcdefghijklmnop"}')
    scim.faults.append(Fault("PATCH", "/Users/", status=400, body=body, times=5))
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    ticket_id = query(url, "SELECT ticket_id FROM tickets.tickets")[0]["ticket_id"]
    assert result["dead_lettered"] == [ticket_id]  # what the lead turns into an alert
    assert result["dead_letters"][0]["status"] == "400" and result["dead_letters"][0]["target"] == "iam_scim"
    row = outbox(url)[0]
    assert (row["state"], row["attempts"], row["last_status"]) == ("dead_lettered", 1, "400")
    assert "invalidValue" in row["last_error"]  # the response is kept ...
    stored = json.dumps([row, attempts(url), query(url, "SELECT * FROM audit.audit_log")], default=str)
    for secret in ("jane.doe@bank.test", "7700 900123", "abcdef123456", "sk_live_abcdefghijklmnop", TOKEN):
        assert secret not in stored  # ... redacted
    assert scim.user(uid)["active"] is True and scim.count("PATCH") == 1  # not retried
    assert query(url, "SELECT status FROM tickets.tickets") == [{"status": "dead_lettered"}]
    dead = query(url, "SELECT outcome, details FROM audit.audit_log WHERE event = 'dead_lettered'")
    assert dead[0]["outcome"] == "400" and "iam_scim" in dead[0]["details"]
    # a dead letter is final: later runs do not touch it
    assert deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d2", now=NOW + dt.timedelta(days=1))["claimed"] == 0


def test_bounded_attempts_then_dead_letter(url, tmp_path, scim):
    cfg, uid, _, _ = setup_scim_night(url, tmp_path, scim, groups=(), policy={"max_attempts": 3})
    scim.faults.append(Fault("PATCH", "/Users/", status=503, times=100))
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert len(result["dead_lettered"]) == 1 and scim.count("PATCH") == 3
    row = outbox(url)[0]
    assert (row["state"], row["attempts"], row["last_status"]) == ("dead_lettered", 3, "503")
    assert row["last_error"].startswith("3 attempts")
    assert scim.user(uid)["active"] is True


def test_retry_classification_matrix(url, tmp_path, scim):
    """503/502/500/504/408/429 retry; 400/401/403/422 and 501 dead-letter (max_attempts 2)."""
    statuses = [500, 502, 503, 504, 408, 429, 400, 401, 403, 422, 501]
    accounts = {s: f"acct{s}" for s in statuses}
    users = {a: scim.add_user(a) for a in accounts.values()}
    build_night(url, D, [Leaver(f"E{s}", "AD", a) for s, a in accounts.items()])
    cfg = make_config(tmp_path, scim=scim, policy={"max_attempts": 2, "concurrency": 1})
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    for s, a in accounts.items():
        scim.faults.append(Fault("PATCH", f"/Users/{users[a]}$", status=s, times=100))
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    tickets = {r["employee_id"]: r["ticket_id"] for r in query(url, "SELECT employee_id, ticket_id FROM tickets.tickets")}
    rows = {r["ticket_id"]: r for r in outbox(url)}
    for s in statuses:
        row = rows[tickets[f"E{s}"]]
        expected = 2 if s in (500, 502, 503, 504, 408, 429) else 1
        assert (row["state"], row["attempts"], row["last_status"]) == ("dead_lettered", expected, str(s)), s


def test_crash_after_the_server_accepted_but_before_the_outbox_was_marked(any_url, tmp_path, scim, hook,
                                                                           monkeypatch):
    url = any_url
    uid = scim.add_user("a1")
    build_night(url, D, [Leaver("E1", "AD", "a1"), Leaver("E2", "Payments", "p2", ("payment_view",))])
    cfg = make_config(tmp_path, scim=scim, hook=hook)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)

    class Crash(BaseException):
        pass

    real = delivery._record_batch

    def crash(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(delivery, "_record_batch", crash)
    with pytest.raises(Crash):
        deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d1", now=NOW)
    assert scim.user(uid)["active"] is False and len(hook.effective) == 1  # the servers applied it ...
    assert {r["state"] for r in outbox(url)} == {"sending"}  # ... the outbox does not know
    assert query(url, "SELECT count(*) AS n FROM tickets.delivery_attempts")[0]["n"] == 0

    monkeypatch.setattr(delivery, "_record_batch", real)
    soon = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d2", now=NOW + dt.timedelta(seconds=30))
    assert soon["claimed"] == 0  # the crashed run's lease (60 s) still holds them
    after = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d3", now=NOW + dt.timedelta(seconds=61))
    assert after["delivered"] == 2 and after["dead_lettered"] == []
    assert scim.writes == {("User", uid): 1} and scim.count("PATCH") == 1  # re-sent, re-read: applied once
    ids = [r["headers"]["webhook-id"] for r in hook.received]
    assert len(ids) == 2 and ids[0] == ids[1]  # the same key re-sent ...
    assert len(hook.effective) == 1 and hook.conflicts == []  # ... one ticket at the consumer
    assert {(r["state"], r["attempts"]) for r in outbox(url)} == {("delivered", 1)}
    assert sorted(r["status"] for r in query(url, "SELECT status FROM tickets.tickets")) == ["acknowledged", "sent"]


# --------------------------------------------------------------------------- webhooks


def test_webhook_is_signed_per_standard_webhooks_and_verifies_at_the_consumer(url, tmp_path, hook):
    build_night(url, D, [Leaver("E2", "Payments", "p2", ("payment_view",))])
    cfg = make_config(tmp_path, hook=hook)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert result["sent"] == 1 and query(url, "SELECT status FROM tickets.tickets") == [{"status": "sent"}]
    req = hook.received[0]
    headers, body = req["headers"], req["body"]
    assert req["valid"] and verify_standard_webhook(WEBHOOK_SECRET, headers, body)
    snow = json.loads(body)
    ticket = query(url, "SELECT ticket_id, payload FROM tickets.tickets")[0]
    assert snow["correlation_id"] == ticket["ticket_id"] and snow["urgency"] == "2"
    assert snow["u_vigil_ticket"] == json.loads(ticket["payload"])
    ts = int(headers["webhook-timestamp"])

    flipped = bytearray(body)
    flipped[10] ^= 0x01
    assert not verify_standard_webhook(WEBHOOK_SECRET, headers, bytes(flipped))  # one body byte
    assert not verify_standard_webhook(WEBHOOK_SECRET, dict(headers, **{"webhook-id": headers["webhook-id"] + "x"}), body)
    assert not verify_standard_webhook(WEBHOOK_SECRET, headers, body, now=ts + 301)  # 301 s late
    assert not verify_standard_webhook(WEBHOOK_SECRET, headers, body, now=ts - 301)  # 301 s early
    assert verify_standard_webhook(WEBHOOK_SECRET, headers, body, now=ts + 300)  # the boundary holds
    other = "whsec_" + __import__("base64").b64encode(b"another-secret-of-enough-bytes!!").decode()
    assert not verify_standard_webhook(other, headers, body)


def test_webhook_id_is_stable_across_retries_and_the_consumer_sees_one_ticket(url, tmp_path, hook):
    build_night(url, D, [Leaver("E2", "Payments", "p2")])
    cfg = make_config(tmp_path, hook=hook)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    hook.faults.append(Fault("POST", "/", status=503, times=2))
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    ids = {r["headers"]["webhook-id"] for r in hook.received}
    assert len(hook.received) == 3 and len(ids) == 1
    assert all(r["valid"] for r in hook.received) and len(hook.effective) == 1
    assert [(o["state"], o["attempts"]) for o in outbox(url)] == [("delivered", 3)]


def test_webhook_timeout_while_the_consumer_processes_gives_one_ticket(url, tmp_path, hook):
    build_night(url, D, [Leaver("E2", "Payments", "p2")])
    cfg = make_config(tmp_path, hook=hook, policy={"timeout_seconds": 0.5})
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    hook.faults.append(Fault("POST", "/", delay_after=1.5))
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert len(hook.received) == 2 and len(hook.effective) == 1 and hook.conflicts == []
    assert [c["outcome"] for c in attempts(url)] == ["timeout", "ok"]


def test_a_changed_payload_is_never_sent_as_a_second_ticket(url, tmp_path, hook):
    build_night(url, D, [Leaver("E2", "Payments", "p2", ("payment_view",))])
    cfg = make_config(tmp_path, hook=hook)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    n2 = D + dt.timedelta(days=1)
    build_night(url, n2, [Leaver("E2", "Payments", "p2", ("payment_view", "payment_approve"))])
    result = create_tickets(url, n2, "run-2", out=tmp_path / "out", config_path=cfg, now=NOW)
    assert result["created"] == 0 and len(result["refused"]) == 1  # alerted
    again = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d2", now=NOW + dt.timedelta(days=1))
    assert again["claimed"] == 0 and len(hook.received) == 1 and len(hook.effective) == 1


def test_a_ticket_altered_after_it_was_queued_is_refused_at_send(url, tmp_path, hook):
    build_night(url, D, [Leaver("E2", "Payments", "p2")])
    cfg = make_config(tmp_path, hook=hook)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    wh = Warehouse.open(url)
    with wh.transaction() as con:  # tampering the roles forbid; the deliverer still checks
        con.execute("UPDATE tickets.tickets SET payload = replace(payload, 'p2', 'p3')")
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert len(result["dead_lettered"]) == 1 and hook.received == []
    assert outbox(url)[0]["last_status"] == "refused"


def test_standard_webhooks_signature_known_answer():
    # the example of the Standard Webhooks specification's reference libraries
    key = __import__("base64").b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(("secret", "ok"), [("x" * 23, False), ("x" * 24, True),
                                            ("whsec_" + __import__("base64").b64encode(b"y" * 23).decode(), False),
                                            ("whsec_" + __import__("base64").b64encode(b"y" * 24).decode(), True)])
def test_webhook_secrets_must_be_at_least_24_bytes(tmp_path, monkeypatch, secret, ok):
    monkeypatch.setenv("SHORT_SECRET", secret)
    conf = DeliveryConfig.from_dict({"channels": {"w": {"type": "webhook", "url": "https://t.example/h",
                                                        "secret_env": "SHORT_SECRET"}}})
    if ok:
        assert len(conf.channels["w"].webhook_key()) == 24
    else:
        with pytest.raises(ConfigError, match="at least 24 bytes"):
            conf.channels["w"].webhook_key()


@pytest.mark.parametrize(("target", "ok"), [
    ("https://tickets.bank.example/hook", True), ("http://127.0.0.1:8080/hook", True),
    ("http://localhost/hook", True), ("http://[::1]:9/hook", True), ("http://tickets.bank.example/hook", False),
    ("http://127.0.0.1.nip.io/hook", False), ("ftp://127.0.0.1/x", False), ("https:///nohost", False),
])
def test_https_is_required_except_to_loopback(target, ok):
    spec = {"channels": {"w": {"type": "webhook", "url": target, "secret_env": "X"},
                         "s": {"type": "scim", "base_url": target}}}
    if ok:
        DeliveryConfig.from_dict(spec)
    else:
        with pytest.raises(ConfigError, match="https"):
            DeliveryConfig.from_dict(spec)


def test_secrets_in_the_config_file_are_refused():
    for key in ("token", "secret", "password"):
        with pytest.raises(ConfigError, match="secrets never go in the file"):
            DeliveryConfig.from_dict({"channels": {"s": {"type": "scim", "base_url": "https://x.example", key: "v"}}})


def test_a_missing_secret_stops_before_anything_is_sent(url, tmp_path, hook, monkeypatch):
    build_night(url, D, [Leaver("E2", "Payments", "p2")])
    cfg = make_config(tmp_path, hook=hook)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    monkeypatch.delenv("TEST_WEBHOOK_SECRET")
    with pytest.raises(ConfigError, match="TEST_WEBHOOK_SECRET"):
        deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert hook.received == [] and outbox(url)[0]["state"] == "pending"
    with pytest.raises(ConfigError, match="no delivery configuration"):
        deliver_tickets(url, None, out=tmp_path / "out", run_id="d", now=NOW)


def test_a_channel_removed_from_the_config_dead_letters_its_rows(url, tmp_path, hook):
    build_night(url, D, [Leaver("E2", "Payments", "p2")])
    cfg = make_config(tmp_path, hook=hook)
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    other = write_config(tmp_path / "other.yml", {"channels": {"drop": {"type": "filedrop"}}, "default": ["drop"]})
    result = deliver_tickets(url, other, out=tmp_path / "out", run_id="d", now=NOW)
    assert len(result["dead_lettered"]) == 1 and outbox(url)[0]["last_status"] == "unconfigured"


# --------------------------------------------------------------------------- file drops


def test_file_drop_is_atomic_with_a_manifest_and_a_rerun_writes_nothing(url, tmp_path):
    import jsonschema

    build_night(url, D, [Leaver("E3", "Treasury", "t3", ("deal_entry",)), Leaver("E4", "Treasury", "t4")])
    cfg = write_config(tmp_path / "d.yml", {"defaults": FAST, "channels": {
        "drop": {"type": "filedrop", "root": str(tmp_path / "drops"), "path": "treasury/{run_date}"}},
        "systems": {"Treasury": ["drop"]}})
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    first = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    folder = tmp_path / "drops" / "treasury" / "2026-03-02"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "revocations.csv", "revocations.jsonl"]
    manifest = json.loads((folder / "manifest.json").read_text())
    for f in manifest["files"]:
        data = (folder / f["name"]).read_bytes()
        assert f["sha256"] == __import__("hashlib").sha256(data).hexdigest() and f["bytes"] == len(data)
    schema = json.loads((__import__("pathlib").Path(__file__).parents[2] / "docs" / "tickets.schema.json").read_text())
    lines = (folder / "revocations.jsonl").read_text().splitlines()
    assert len(lines) == 2 and manifest["ticket_ids"] == sorted(json.loads(x)["ticket_id"] for x in lines)
    for line in lines:
        jsonschema.validate(json.loads(line), schema)
    assert first["files_written"] == 3 and first["delivered"] == 2
    assert query(url, "SELECT DISTINCT status FROM tickets.tickets") == [{"status": "sent"}]
    stamp = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    # replay: the same rows pending again (e.g. a crash before the commit) - same files, nothing written
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("UPDATE tickets.outbox SET state = 'pending', next_attempt_at = %s", (NOW,))
    again = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d2", now=NOW)
    assert again["delivered"] == 2 and again["files_written"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamp
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("path", ["../outside", "{system}/../../x", "/etc/vigil", "a/../../b", "..", "a\\..\\b", "~/x"])
def test_path_traversal_in_drop_paths_is_refused(path):
    with pytest.raises(ConfigError, match="drop path"):
        DeliveryConfig.from_dict({"channels": {"d": {"type": "filedrop", "path": path}}})


def test_a_drop_folder_escaping_its_root_through_a_symlink_is_refused(url, tmp_path):
    root, outside = tmp_path / "drops", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "treasury")
    build_night(url, D, [Leaver("E3", "Treasury", "t3")])
    cfg = write_config(tmp_path / "d.yml", {"defaults": FAST, "channels": {
        "drop": {"type": "filedrop", "root": str(root), "path": "treasury/{run_date}"}}, "default": ["drop"]})
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert len(result["dead_lettered"]) == 1 and list(outside.iterdir()) == []
    assert outbox(url)[0]["last_status"] == "refused" and "outside its root" in outbox(url)[0]["last_error"]


def test_unsafe_system_names_never_become_paths(tmp_path):
    conf = DeliveryConfig.from_dict({"channels": {"d": {"type": "filedrop"}}})
    for system in ("../etc", "a/b", ".hidden", ""):
        with pytest.raises(ConfigError, match="unsafe"):
            conf.channels["d"].drop_dir(tmp_path, system, "2026-03-02")
    assert conf.channels["d"].drop_dir(tmp_path, "Core.Banking-2", "2026-03-02") == (
        tmp_path / "filedrop" / "Core.Banking-2" / "2026-03-02").resolve()


# --------------------------------------------------------------------------- policy pieces


def test_backoff_is_exponential_with_jitter_capped_and_never_before_retry_after():
    p = Policy(backoff_base_seconds=2, backoff_max_seconds=30)
    assert backoff_delay(1, p, rng=lambda: 0.0) == 1.0 and backoff_delay(1, p, rng=lambda: 1.0) == 2.0
    assert backoff_delay(3, p, rng=lambda: 1.0) == 8.0
    assert backoff_delay(10, p, rng=lambda: 1.0) == 30.0 and backoff_delay(10, p, rng=lambda: 0.0) == 15.0
    assert backoff_delay(1, p, retry_after=45, rng=lambda: 1.0) == 45.0
    delays = {round(backoff_delay(4, p), 6) for _ in range(50)}
    assert len(delays) > 1 and all(8 <= d <= 16 for d in delays)  # jittered within [ceiling/2, ceiling]


def test_retry_after_parsing():
    now = dt.datetime(2026, 3, 3, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("0") == 0 and parse_retry_after("120") == 120
    assert parse_retry_after("Tue, 03 Mar 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Tue, 03 Mar 2026 11:00:00 GMT", now) == 0  # in the past: now
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_redaction_masks_secrets_and_personal_data():
    text = redact('{"email":"a.b@x.org","phone":"+44 20 7946 0958","password":"hunter2",'
                  '"Authorization":"Bearer abc.def.ghi","ni":"AB 12 34 56 C"}')
    for leaked in ("a.b@x.org", "7946 0958", "hunter2", "abc.def.ghi", "AB 12 34 56 C"):
        assert leaked not in text
    assert len(redact("x" * 5000)) <= 403


def test_example_config_loads():
    conf = load_delivery_config(__import__("pathlib").Path(__file__).parents[2] / "config" / "delivery.example.yml")
    assert {c.type for c in conf.channels.values()} == {"scim", "webhook", "filedrop"}
    assert conf.channels_for("AD")[0].name == "ad_scim" and conf.channels_for("Unknown")[0].name == "servicenow"


def test_demo_config_drops_every_systems_tickets_as_files(url, tmp_path):
    """`make demo` delivers: config/delivery.demo.yml routes any system to a file drop under --out."""
    cfg = __import__("pathlib").Path(__file__).parents[2] / "config" / "delivery.demo.yml"
    assert "config/delivery.demo.yml" in (cfg.parent.parent / "scripts" / "demo.sh").read_text()
    build_night(url, D, [Leaver("E1", "AD", "a1"), Leaver("E2", "Payments", "p2")])
    created = create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    assert created["created"] == created["outbox"] == 2 and created["unrouted"] == []
    result = deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert result["delivered"] == 2 and result["dead_lettered"] == []
    assert {p.parent.parent.name for p in (tmp_path / "out" / "filedrop").rglob("*.jsonl")} == {"AD", "Payments"}


def test_plan_matches_what_gets_created_for_a_multi_channel_system(url, tmp_path, scim, hook):
    uid = scim.add_user("a1")
    build_night(url, D, [Leaver("E1", "AD", "a1")])
    cfg = make_config(tmp_path, scim=scim, hook=hook, systems={"AD": ["iam_scim", "snow"]})
    plan = plan_tickets(url, D, "run-1", schema="publish")
    created = create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    assert created["created"] == len(plan) == 1 and created["outbox"] == 2
    deliver_tickets(url, cfg, out=tmp_path / "out", run_id="d", now=NOW)
    assert scim.user(uid)["active"] is False and len(hook.effective) == 1
    # SCIM confirmed, the ticketing system only received it: sent (acknowledged by a person later)
    assert query(url, "SELECT status FROM tickets.tickets") == [{"status": "sent"}]
