"""The delivery core on its own (vigil.actions.delivery, issue 21): the retry loop at its
boundaries, the retry classification, the https rule, canonical JSON, and the outbox with a
document kind made up here - a third kind plugs in with a small adapter and gets effectively-once
delivery, leases and dead letters against a real webhook consumer on loopback.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest

from fixtures.tickets import FAST, WEBHOOK_SECRET, Fault, WebhookConsumer, query, write_config
from vigil.actions.delivery.config import DeliveryConfig, load_delivery_config
from vigil.actions.delivery.http import Call, DeliveryError, SendResult, check_url, is_retryable
from vigil.actions.delivery.outbox import (
    Clock, DocumentKind, attempts_ddl, deliver_outbox, idempotency_key_for, insert, outbox_columns, outbox_ddl,
    outbox_id_for, rows,
)
from vigil.actions.delivery.retry import RetryPolicy, attempt_with_retries, backoff_delay
from vigil.actions.delivery.wire import canonical_json, sha256_hex
from vigil.config import ConfigError
from vigil.store.warehouse import Warehouse

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
D = dt.date(2026, 3, 2)


# --------------------------------------------------------------------------- the retry loop


class Flaky:
    """Fails `failures` times with `error`, then succeeds; counts the calls."""

    def __init__(self, failures: int, error: DeliveryError | Exception | None = None):
        self.failures, self.calls = failures, 0
        self.error = error or DeliveryError("HTTP 503", status="503", retryable=True)

    def __call__(self) -> SendResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return SendResult("delivered", "204", [Call("POST", dt.datetime.now(UTC), 1.0, 204, "ok")])


POLICY = RetryPolicy(max_attempts=3, backoff_base_seconds=1, backoff_max_seconds=8, max_inline_wait_seconds=4)


@pytest.mark.parametrize(("failures", "state", "attempts"), [
    (0, "delivered", 1), (1, "delivered", 2), (2, "delivered", 3),  # the last attempt may still succeed
    (3, "dead_lettered", 3), (4, "dead_lettered", 3),  # never a 4th attempt
])
def test_attempts_up_to_max_then_dead_letter(failures, state, attempts):
    slept: list[float] = []
    send = Flaky(failures)
    done = attempt_with_retries(send, POLICY, sleep=slept.append, rng=lambda: 1.0)
    assert (done.state, done.attempts, send.calls) == (state, attempts, attempts)
    assert slept == [1.0, 2.0][:min(failures, 2)]  # exponential between attempts, none after the last
    if state == "dead_lettered":
        assert done.error.startswith("3 attempts: ") and done.status == "503"
    else:
        assert done.status == "204" and done.error is None


@pytest.mark.parametrize(("before", "state"), [(0, "delivered"), (1, "delivered"), (2, "dead_lettered")])
def test_attempts_count_across_runs(before, state):
    """An outbox row that already failed `before` times has 3 - before attempts left."""
    done = attempt_with_retries(Flaky(1), POLICY, attempts_before=before, sleep=lambda s: None)
    assert done.state == state and done.attempts == before + (2 if state == "delivered" else 1)


def test_a_permanent_error_dead_letters_on_the_first_attempt():
    send = Flaky(5, DeliveryError("HTTP 400: bad", status="400", retryable=False))
    done = attempt_with_retries(send, POLICY, sleep=lambda s: None)
    assert (done.state, done.attempts, send.calls, done.status) == ("dead_lettered", 1, 1, "400")
    assert done.error.startswith("permanent error: ")


def test_an_unreadable_answer_is_retried_and_bounded():
    send = Flaky(5, ValueError("Expecting value: line 1 column 1"))
    done = attempt_with_retries(send, POLICY, sleep=lambda s: None)
    assert (done.state, done.attempts, done.status) == ("dead_lettered", 3, "error")
    assert [c.request for _, c in done.calls] == ["unexpected response"] * 3


@pytest.mark.parametrize(("retry_after", "state"), [(3.0, "delivered"), (4.0, "delivered"), (4.001, "pending")])
def test_a_wait_longer_than_the_inline_limit_is_left_for_the_next_run(retry_after, state):
    slept: list[float] = []
    send = Flaky(1, DeliveryError("HTTP 429", status="429", retryable=True, retry_after=retry_after))
    done = attempt_with_retries(send, POLICY, sleep=slept.append, rng=lambda: 0.0)
    assert done.state == state
    if state == "pending":
        assert slept == [] and done.retry_in == retry_after and done.attempts == 1 and send.calls == 1
    else:
        assert slept == [retry_after]  # never sooner than Retry-After


def test_without_an_outbox_a_long_wait_is_cut_to_the_inline_limit():
    clamp = RetryPolicy(max_attempts=2, backoff_base_seconds=1, backoff_max_seconds=30, max_inline_wait_seconds=30,
                        jitter=False, clamp_long_waits=True)
    slept: list[float] = []
    send = Flaky(1, DeliveryError("HTTP 429", status="429", retryable=True, retry_after=120))
    assert attempt_with_retries(send, clamp, sleep=slept.append).state == "delivered" and slept == [30]


def test_backoff_without_jitter_is_the_ceiling():
    p = RetryPolicy(backoff_base_seconds=1, backoff_max_seconds=30, jitter=False)
    assert [backoff_delay(n, p) for n in (1, 2, 3, 5, 6, 7)] == [1, 2, 4, 16, 30, 30]
    assert backoff_delay(1, p, retry_after=0) == 1 and backoff_delay(1, p, retry_after=1.5) == 1.5


@pytest.mark.parametrize(("status", "retried"), [
    (407, False), (408, True), (409, False), (424, False), (425, True), (426, False), (428, False), (429, True),
    (430, False), (499, False), (500, True), (501, False), (502, True), (504, True), (505, False), (506, True),
    (599, True), (600, False), (200, False), (301, False),
])
def test_retry_classification_at_its_boundaries(status, retried):
    assert is_retryable(status) is retried


# --------------------------------------------------------------------------- the https rule


@pytest.mark.parametrize(("url", "ok"), [
    ("https://h.example/x", True), ("https://h.example:8443", True), ("https:///x", False), ("https://", False),
    ("http://127.0.0.1/x", True), ("http://127.255.255.254/x", True), ("http://128.0.0.1/x", False),
    ("http://126.255.255.255/x", False), ("http://localhost:9/x", True), ("http://localhost.example/x", False),
    ("http://[::1]:9/x", True), ("http://[::2]/x", False), ("http://0.0.0.0/x", False), ("HTTP://h.example", False),
    ("ftp://127.0.0.1/x", False), ("", False), (None, False),
])
def test_https_except_to_loopback_at_the_boundaries(url, ok):
    if ok:
        check_url("channel c", url)
    else:
        with pytest.raises(ConfigError, match="https://"):
            check_url("channel c", url)


def test_a_secret_url_is_never_echoed():
    url = "http://chat.example/hooks/T000/B000/secret-token-value"
    with pytest.raises(ConfigError) as err:
        check_url("team t webhook", url, secret=True)
    assert "secret-token-value" not in str(err.value) and "https://" in str(err.value)
    with pytest.raises(ConfigError, match="secret-token-value"):
        check_url("channel c", url)  # a configured (non-secret) URL is named, to be found and fixed


# --------------------------------------------------------------------------- canonical JSON


def test_canonical_json_has_one_spelling_per_value():
    value = {"b": [1, 2], "a": "Zoë", "when": dt.datetime(2026, 3, 2, 23, 59, 59, 999, tzinfo=UTC),
             "day": dt.date(2026, 3, 2), "n": decimal.Decimal("2.0"), "x": decimal.Decimal("2.5"), "s": {"b", "a"},
             "local": dt.datetime(2026, 3, 2, 8, 0)}
    assert canonical_json(value) == ('{"a":"Zoë","b":[1,2],"day":"2026-03-02","local":"2026-03-02T08:00:00",'
                                     '"n":2,"s":["a","b"],"when":"2026-03-02T23:59:59Z","x":2.5}')
    assert canonical_json(dict(reversed(list(value.items())))) == canonical_json(value)


# --------------------------------------------------------------------------- a third kind on the outbox

NOTES = "notes"


def _notes_documents(wh, con, ids):
    out: dict[str, dict] = {}
    ph = ", ".join(["%s"] * len(ids)) or "NULL"
    for r in rows(wh, con, f"SELECT note_id, payload FROM {NOTES}.documents WHERE note_id IN ({ph})", tuple(ids)):
        out.setdefault(r["note_id"], {})[sha256_hex(r["payload"])] = json.loads(r["payload"])
    return out


NOTE_KIND = DocumentKind(
    name="notes", schema=NOTES, id_column="note_id", route_column="route",
    claim_from=f"{NOTES}.outbox o", claim_order="o.outbox_id", documents=_notes_documents,
    render_webhook=lambda doc, options: canonical_json({"note": doc}).encode(),
    drop=lambda channel, route, run_date, docs: ([("notes.jsonl", "".join(canonical_json(d) + "\n" for d in docs)
                                                   .encode(), len(docs))], {"notes": len(docs)}),
)


def queue_notes(url: str, notes: list[str], targets: list[str]) -> None:
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {NOTES}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {NOTES}.documents (note_id VARCHAR PRIMARY KEY, payload VARCHAR)")
        con.execute(outbox_ddl(f"{NOTES}.outbox", "note_id", "route"))
        con.execute(attempts_ddl(f"{NOTES}.delivery_attempts", "note_id"))
        docs, outbox = [], []
        for n in notes:
            payload = canonical_json({"note_id": n, "text": f"note {n}"})
            docs.append((n, payload))
            for t in targets:
                obx = outbox_id_for(n, t)
                outbox.append((obx, n, "webhook" if t == "hook" else "filedrop", t, "notes", D,
                               idempotency_key_for(obx), sha256_hex(payload), NOW, "pending", 0, NOW, None, None))
        insert(con, f"{NOTES}.documents", ("note_id", "payload"), docs)
        insert(con, f"{NOTES}.outbox", outbox_columns("note_id", "route"), outbox)


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    with WebhookConsumer() as hook:
        yield hook, str(tmp_path / "wh.duckdb")


def notes_config(tmp_path, hook, **policy) -> DeliveryConfig:
    path = write_config(tmp_path / "d.yml", {"defaults": dict(FAST, **policy), "channels": {
        "hook": {"type": "webhook", "url": hook.url, "secret_env": "TEST_WEBHOOK_SECRET"},
        "drop": {"type": "filedrop"}}})
    return load_delivery_config(path)


def test_a_new_kind_is_delivered_effectively_once_on_every_channel(env, tmp_path):
    hook, url = env
    queue_notes(url, ["n1", "n2"], ["hook", "drop"])
    config = notes_config(tmp_path, hook)
    first = deliver_outbox(NOTE_KIND, Warehouse.open(url), config, out=tmp_path / "out", run_id="r1", clock=Clock(NOW))
    assert first["claimed"] == first["delivered"] == 4 and first["dead_letters"] == []
    assert sorted(json.loads(b)["note"]["note_id"] for b in hook.effective.values()) == ["n1", "n2"]
    assert all(r["valid"] for r in hook.received)
    lines = (tmp_path / "out" / "filedrop" / "notes" / D.isoformat() / "notes.jsonl").read_text().splitlines()
    assert [json.loads(x)["note_id"] for x in lines] == ["n1", "n2"]
    # a rerun finds nothing due and sends nothing
    again = deliver_outbox(NOTE_KIND, Warehouse.open(url), config, out=tmp_path / "out", run_id="r2",
                           clock=Clock(NOW + dt.timedelta(hours=1)))
    assert again["claimed"] == 0 and len(hook.received) == 2
    assert first["outbox"] == again["outbox"] == {"delivered": 4}


@pytest.mark.parametrize(("fails", "state", "received"), [(1, "delivered", 2), (2, "dead_lettered", 2)])
def test_the_last_attempt_decides_between_delivered_and_dead_letter(env, tmp_path, fails, state, received):
    hook, url = env
    queue_notes(url, ["n1"], ["hook"])
    hook.faults.append(Fault("POST", "/", status=503, times=fails))
    result = deliver_outbox(NOTE_KIND, Warehouse.open(url), notes_config(tmp_path, hook, max_attempts=2),
                            out=tmp_path / "out", run_id="r1", clock=Clock(NOW))
    row = query(url, "SELECT state, attempts, last_status, last_error FROM notes.outbox")[0]
    assert (row["state"], row["attempts"], len(hook.received)) == (state, 2, received)
    assert len({r["headers"]["webhook-id"] for r in hook.received}) == 1  # one key on every attempt
    if state == "dead_lettered":
        assert row["last_status"] == "503" and row["last_error"].startswith("2 attempts")
        assert [d["doc_id"] for d in result["dead_letters"]] == ["n1"]
        # a dead letter is final: a later run does not touch it
        later = deliver_outbox(NOTE_KIND, Warehouse.open(url), notes_config(tmp_path, hook), out=tmp_path / "out",
                               run_id="r2", clock=Clock(NOW + dt.timedelta(days=1)))
        assert later["claimed"] == 0 and len(hook.received) == 2
    else:
        assert result["dead_letters"] == [] and len(hook.effective) == 1
    calls = query(url, "SELECT attempt_no, http_status FROM notes.delivery_attempts ORDER BY started_at")
    assert [c["attempt_no"] for c in calls] == [1, 2]


def test_a_crashed_run_is_resent_after_its_lease_under_the_same_key(env, tmp_path, monkeypatch):
    import vigil.actions.delivery.outbox as outbox

    hook, url = env
    queue_notes(url, ["n1"], ["hook"])
    config = notes_config(tmp_path, hook)

    class Crash(BaseException):
        pass

    def crash(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(outbox, "record_batch", crash)
    with pytest.raises(Crash):
        deliver_outbox(NOTE_KIND, Warehouse.open(url), config, out=tmp_path / "out", run_id="r1", clock=Clock(NOW))
    monkeypatch.undo()
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    held = deliver_outbox(NOTE_KIND, Warehouse.open(url), config, out=tmp_path / "out", run_id="r2",
                          clock=Clock(NOW + dt.timedelta(seconds=59)))
    assert held["claimed"] == 0  # the lease (60 s) still holds the row
    after = deliver_outbox(NOTE_KIND, Warehouse.open(url), config, out=tmp_path / "out", run_id="r3",
                           clock=Clock(NOW + dt.timedelta(seconds=61)))
    assert after["delivered"] == 1 and len(hook.received) == 2 and len(hook.effective) == 1 and not hook.conflicts
