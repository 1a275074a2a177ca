"""SCIM 2.0 (RFC 7643/7644) delivery: disable the user, remove its group memberships.

Per account of a ticket:

1. find the user (``user_lookup``: ``externalId`` / ``userName`` filter, or ``id`` = account_id);
   none = already removed (done);
2. ``disable_account``: unless the user is already inactive, ``PATCH /Users/{id}`` with
   ``replace active=false`` and ``If-Match: <ETag>`` (when the server announces ETags); 412 = the
   user changed since we read it: re-read and retry (bounded); 409 = re-read, done if the state is
   already what we want; 404 = already removed (done);
3. ``remove_entitlement``: read the groups the user is in (``members.value eq``), and for each
   entitlement's group (``groups:`` mapping, default the entitlement name as displayName) that
   still lists the user, ``PATCH /Groups/{gid}`` with ``remove members[value eq "<id>"]``; 404 or
   ``noTarget`` = done.

Reading first makes a re-send after a crash or a timeout idempotent: the server applies one change.
The payloads are RFC 7644 §3.5.2 PatchOp documents written out here: they are two fixed shapes,
and importing scim2-models (pydantic) to build them cost the same-day path about a second of its
five (`vigil react`, docs/benchmarks.md); tests/actions/test_tickets_delivery.py checks they equal
what scim2-models builds and validates. The request carries ``Idempotency-Key`` (the outbox key)
for servers that support it.
"""

from __future__ import annotations

import threading

import httpx

from vigil.actions.delivery.config import Channel
from vigil.actions.delivery.http import Call, DeliveryError, SendResult, raise_for, timed_request
from vigil.actions.tickets import model

SCIM_JSON = "application/scim+json"
MAX_CONFLICT_RETRIES = 3


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def disable_payload() -> dict:
    """``replace active=false`` on a User (RFC 7644 §3.5.2.3)."""
    return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}


def remove_member_payload(user_id: str) -> dict:
    """``remove members[value eq "<id>"]`` on a Group (RFC 7644 §3.5.2.2)."""
    return {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": f"members[value eq {_quote(user_id)}]"}]}


class ScimChannel:
    type = "scim"

    def __init__(self, channel: Channel, client: httpx.Client):
        self.channel = channel
        self.client = client
        o = channel.options
        self.base = o["base_url"].rstrip("/")
        self.lookup = o.get("user_lookup", "externalId")
        self.groups: dict[str, str] = {str(k): str(v) for k, v in (o.get("groups") or {}).items()}
        self.use_etag = bool(o.get("use_etag", True))
        token = channel.secret("token")
        self.headers = {"Accept": SCIM_JSON, "Content-Type": SCIM_JSON}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._group_ids: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    def _get(self, path: str, label: str, calls: list[Call], params: dict | None = None) -> httpx.Response:
        return timed_request(self.client, "GET", self.base + path, label, calls, headers=self.headers, params=params)

    def find_user(self, account_id: str, calls: list[Call]) -> dict | None:
        if self.lookup == "id":
            r = self._get(f"/Users/{account_id}", "GET /Users/{id}", calls)
            if r.status_code == 404:
                return None
            if not r.is_success:
                raise_for(r, "GET /Users/{id}", calls)
            return {**r.json(), "_etag": r.headers.get("ETag")}
        r = self._get("/Users", "GET /Users?filter", calls,
                      params={"filter": f"{self.lookup} eq {_quote(account_id)}", "attributes": "id,active,meta"})
        if not r.is_success:
            raise_for(r, "GET /Users?filter", calls)
        found = r.json().get("Resources") or []
        if len(found) > 1:
            raise DeliveryError(f"{len(found)} SCIM users match {self.lookup} of one account", status="ambiguous",
                                retryable=False, calls=calls)
        if not found:
            return None
        user = found[0]
        return {**user, "_etag": (user.get("meta") or {}).get("version")}

    def reread_user(self, user_id: str, calls: list[Call]) -> dict | None:
        r = self._get(f"/Users/{user_id}", "GET /Users/{id}", calls, params={"attributes": "id,active,meta"})
        if r.status_code == 404:
            return None
        if not r.is_success:
            raise_for(r, "GET /Users/{id}", calls)
        return {**r.json(), "_etag": r.headers.get("ETag") or (r.json().get("meta") or {}).get("version")}

    def member_groups(self, user_id: str, calls: list[Call]) -> dict[str, str]:
        """displayName -> id of every group that lists the user (paged)."""
        out: dict[str, str] = {}
        start = 1
        while True:
            r = self._get("/Groups", "GET /Groups?filter", calls, params={
                "filter": f"members.value eq {_quote(user_id)}", "attributes": "id,displayName",
                "startIndex": str(start), "count": "200"})
            if not r.is_success:
                raise_for(r, "GET /Groups?filter", calls)
            body = r.json()
            items = body.get("Resources") or []
            for g in items:
                out[g.get("displayName") or g["id"]] = g["id"]
            total = int(body.get("totalResults") or 0)
            start += len(items)
            if not items or start > total:
                return out

    # -- writing ---------------------------------------------------------------------------
    def _patch(self, path: str, label: str, payload: dict, calls: list[Call], key: str,
               etag: str | None = None) -> httpx.Response:
        headers = dict(self.headers, **{"Idempotency-Key": key})
        if etag and self.use_etag:
            headers["If-Match"] = etag
        return timed_request(self.client, "PATCH", self.base + path, label, calls, headers=headers,
                             content=model.canonical_json(payload).encode())

    def _disable(self, user: dict, calls: list[Call], key: str) -> str:
        """'applied' or 'already_applied' / 'not_found'."""
        for _ in range(MAX_CONFLICT_RETRIES + 1):
            if user is None:
                return "not_found"
            if user.get("active") is False:
                return "already_applied"
            r = self._patch(f"/Users/{user['id']}", "PATCH /Users/{id}", disable_payload(), calls, key, user.get("_etag"))
            if r.is_success:
                return "applied"
            if r.status_code == 404:
                return "not_found"
            if r.status_code in (409, 412):
                # RFC 7644 §3.14: the resource changed since we read it (412), or the provider
                # refused the change as conflicting (409): read it again and retry on the new version.
                user = self.reread_user(user["id"], calls)
                continue
            raise_for(r, "PATCH /Users/{id}", calls)
        raise DeliveryError(f"PATCH /Users/{{id}}: still conflicting after {MAX_CONFLICT_RETRIES} re-reads",
                            status=str(r.status_code), retryable=True, calls=calls)

    def _remove_groups(self, user_id: str, entitlements: list[str], calls: list[Call], key: str) -> str:
        wanted = {self.groups.get(e, e) for e in entitlements}
        changed = False
        for _ in range(MAX_CONFLICT_RETRIES + 1):
            current = self.member_groups(user_id, calls)
            todo = sorted(wanted & set(current))
            if not todo:
                return "applied" if changed else "already_applied"
            conflict = None
            for name in todo:
                r = self._patch(f"/Groups/{current[name]}", "PATCH /Groups/{id}", remove_member_payload(user_id),
                                calls, key)
                if r.is_success:
                    changed = True
                    continue
                if r.status_code == 404:
                    continue
                if r.status_code == 400 and "notarget" in r.text.lower():
                    continue  # RFC 7644 §3.5.2.2: nothing to remove any more
                if r.status_code in (409, 412):
                    conflict = r
                    continue
                raise_for(r, "PATCH /Groups/{id}", calls)
            if conflict is None:
                return "applied" if changed else "already_applied"
        raise DeliveryError("PATCH /Groups/{id}: still conflicting after re-reads", status="409", retryable=True,
                            calls=calls)

    def send(self, document: dict, key: str) -> SendResult:
        calls: list[Call] = []
        outcomes = []
        for account_id in document["account_ids"]:
            actions = [a for a in document["actions"] if a["account_id"] == account_id]
            user = self.find_user(account_id, calls)
            if user is None:
                outcomes.append("not_found")
                continue
            if any(a["action"] == model.DISABLE for a in actions):
                outcomes.append(self._disable(user, calls, key))
            ents = [a["entitlement"] for a in actions if a["action"] == model.REMOVE]
            if ents:
                outcomes.append(self._remove_groups(user["id"], ents, calls, key))
        if "applied" in outcomes:
            outcome = "applied"
        elif outcomes and all(o == "not_found" for o in outcomes):
            outcome = "not_found"
        else:
            outcome = "already_applied"
        last = next((c.http_status for c in reversed(calls) if c.http_status), None)
        return SendResult(outcome, str(last) if last else "ok", calls, confirms=True)
