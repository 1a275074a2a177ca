"""The delivery core (issue 21): one way to get a document to a channel effectively once.

Tickets, alerts and cases are document kinds; what they share lives here, layered:

* ``wire``: canonical JSON and hashes (the same document is always the same bytes);
* ``http``: call records, DeliveryError, the retry classification, redaction, the https rule;
* ``signing``: Standard Webhooks signatures and the signed webhook channel;
* ``retry``: backoff with jitter and Retry-After, and the inline retry loop;
* ``files``: atomic, idempotent writes and the file drop (data files + manifest);
* ``config``: the delivery configuration file (channels, secrets, policies, routes);
* ``outbox``: claim / send / record with leases and dead letters, for any kind that plugs in a
  :class:`~vigil.actions.delivery.outbox.DocumentKind` (tickets: vigil.actions.tickets.delivery;
  cases: vigil.actions.cases.delivery).

Alerts keep their append-only ledger (audit.alerts_sent / alert_deliveries) and use the core's
sending, retry, URL and JSON rules (vigil.actions.alerts.channels).
"""

from vigil.actions.delivery.config import Channel, DeliveryConfig, Policy, load_delivery_config, resolve_secret
from vigil.actions.delivery.http import Call, DeliveryError, SendResult, check_url, redact
from vigil.actions.delivery.outbox import DocumentKind, deliver_outbox
from vigil.actions.delivery.retry import RetryPolicy, attempt_with_retries, backoff_delay
from vigil.actions.delivery.signing import sign
from vigil.actions.delivery.wire import canonical_json, sha256_hex

__all__ = [
    "Call", "Channel", "DeliveryConfig", "DeliveryError", "DocumentKind", "Policy", "RetryPolicy", "SendResult",
    "attempt_with_retries", "backoff_delay", "canonical_json", "check_url", "deliver_outbox", "load_delivery_config",
    "redact", "resolve_secret", "sha256_hex", "sign",
]
