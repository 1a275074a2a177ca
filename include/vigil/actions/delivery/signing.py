"""Signed webhooks per the Standard Webhooks specification, for any document kind.

Headers: ``webhook-id`` (the outbox idempotency key: the same on every retry, so the consumer can
drop duplicates), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` with the channel's secret (>= 24 bytes).
The body is the same bytes on every attempt; what it holds is the document kind's business
(``render`` below: tickets and cases each have their ServiceNow / Jira / standard shapes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Callable

import httpx

from vigil.actions.delivery.http import Call, SendResult, raise_for, timed_request
from vigil.config import ConfigError

MIN_WEBHOOK_SECRET_BYTES = 24


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def decode_webhook_secret(secret: str) -> bytes:
    """Standard Webhooks secrets are ``whsec_`` + base64 of the key; anything else is the key's bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except ValueError as exc:
            raise ConfigError("a whsec_ webhook secret must be base64") from exc
    return secret.encode()


def signed_headers(key: bytes, msg_id: str, body: bytes, *, timestamp: int | None = None,
                   extra: dict[str, str] | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        **(extra or {}),
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(key, msg_id, ts, body),
    }


class SignedWebhookChannel:
    """POST one document, signed; ``render(document, options) -> bytes`` is the kind's body."""

    type = "webhook"

    def __init__(self, channel, client: httpx.Client, render: Callable[[dict, dict], bytes]):
        self.channel = channel
        self.client = client
        self.render = render
        self.url = channel.options["url"]
        self.key = channel.webhook_key()
        self.extra_headers = {str(k): str(v) for k, v in (channel.options.get("headers") or {}).items()}

    def send(self, document: dict, key: str) -> SendResult:
        calls: list[Call] = []
        body = self.render(document, self.channel.options)
        headers = signed_headers(self.key, key, body, extra=self.extra_headers)
        r = timed_request(self.client, "POST", self.url, "POST webhook", calls, headers=headers, content=body)
        if not r.is_success:
            raise_for(r, "POST webhook", calls)
        return SendResult("delivered", str(r.status_code), calls, confirms=False)
