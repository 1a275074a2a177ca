"""Sending: one e-mail over SMTP, one JSON message to a chat webhook. Errors are raised as
DeliveryError with a message that names the channel but never a secret (no URL, no password)."""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage

from vigil.actions.alerts.config import SmtpSettings, Webhook

WEBHOOK_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 30.0


class DeliveryError(RuntimeError):
    """A message was not accepted; what it carried stays owed and is retried by the next dispatch."""


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
    import httpx

    url = webhook.url()
    last = ""
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            response = httpx.post(url, json=payload, timeout=webhook.timeout_seconds, follow_redirects=False)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}"
            status = None
        else:
            status = response.status_code
            if 200 <= status < 300:
                return f"http {status}"
            last = f"http {status}"
            if status != 429 and status < 500:
                break  # a 4xx other than 429 will not get better by asking again
        if attempt < WEBHOOK_ATTEMPTS:
            wait = float(2 ** (attempt - 1))
            if status == 429:
                try:
                    wait = float(response.headers.get("Retry-After", wait))
                except ValueError:
                    pass
            sleep(min(max(wait, 0.0), MAX_RETRY_AFTER_SECONDS))
    raise DeliveryError(f"team {webhook.team} webhook ({webhook.format}): {last} after {attempt} attempt(s)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
