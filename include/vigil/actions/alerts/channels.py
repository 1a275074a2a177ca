"""Sending: one e-mail over SMTP, one JSON message to a chat webhook. Errors are raised as the
delivery core's DeliveryError with a message that names the channel but never a secret (no URL,
no password); what the message carried stays owed and is retried by the next dispatch.

Chat webhooks retry on the core's loop (vigil.actions.delivery.retry): 5xx, 429 and network
errors, 3 attempts, 1 s then 2 s apart and never before Retry-After (waits cut to 30 s: a
dispatch has no outbox to come back later); other 4xx are not retried within the dispatch.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage

import httpx

from vigil.actions.alerts.config import SmtpSettings, Webhook
from vigil.actions.delivery.http import Call, DeliveryError, SendResult, raise_for, timed_request
from vigil.actions.delivery.retry import RetryPolicy, attempt_with_retries

WEBHOOK_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 30.0
#: 1 s then 2 s between attempts, no jitter; a longer Retry-After is waited, at most 30 s.
CHAT_RETRY = RetryPolicy(max_attempts=WEBHOOK_ATTEMPTS, backoff_base_seconds=1.0,
                         backoff_max_seconds=MAX_RETRY_AFTER_SECONDS, max_inline_wait_seconds=MAX_RETRY_AFTER_SECONDS,
                         jitter=False, clamp_long_waits=True)

__all__ = ["CHAT_RETRY", "DeliveryError", "post_webhook", "send_email"]


def chat_retryable(status: int) -> bool:
    """Chat services: any 5xx or 429 may pass on a second try; other 4xx will not."""
    return status == 429 or 500 <= status <= 599


def send_email(smtp: SmtpSettings, message: EmailMessage, recipients: tuple[str, ...]) -> str:
    host = smtp.resolved_host()
    credentials = smtp.credentials()
    try:
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(host, smtp.port, timeout=smtp.timeout_seconds,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if credentials:
                client.login(*credentials)
            refused = client.send_message(message, from_addr=smtp.sender, to_addrs=list(recipients))
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"smtp {host}:{smtp.port}: {type(exc).__name__}: {_first_line(exc)}") from None
    if refused:
        raise DeliveryError(f"smtp {host}:{smtp.port}: {len(refused)} of {len(recipients)} recipients refused")
    return f"smtp accepted for {len(recipients)} recipient(s)"


def post_webhook(webhook: Webhook, payload: dict, *, sleep=time.sleep) -> str:
    url = webhook.url()

    def post_once(client: httpx.Client) -> SendResult:
        calls: list[Call] = []
        # json=: httpx's compact UTF-8 encoding, the bytes chat services have always received
        r = timed_request(client, "POST", url, "POST chat webhook", calls, json=payload)
        if not r.is_success:
            raise_for(r, "POST chat webhook", calls, retryable=chat_retryable)
        return SendResult("delivered", str(r.status_code), calls)

    with httpx.Client(timeout=webhook.timeout_seconds, follow_redirects=False) as client:
        done = attempt_with_retries(lambda: post_once(client), CHAT_RETRY, sleep=sleep)
    if done.state == "delivered":
        return f"http {done.status}"
    last = f"http {done.status}" if str(done.status).isdigit() else str(done.status)
    raise DeliveryError(f"team {webhook.team} webhook ({webhook.format}): {last} after {done.attempts} attempt(s)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
