"""Generic webhook, signed per Standard Webhooks 1.0.0 (channels.md §10).

- POST JSON ``{"type": "post.published", "timestamp", "data"}``, body sent byte for byte as
  signed; headers ``webhook-id`` (= the delivery's idempotency key, the same on every retry,
  so the receiver deduplicates), ``webhook-timestamp`` (Unix seconds of this attempt) and
  ``webhook-signature`` ``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` with the
  ``whsec_`` secret (signed by the ``standardwebhooks`` package, so receivers can verify with
  the same library).
- Outcomes (§10): 2xx success; 3xx failure, redirects are not followed; 410 the endpoint is
  gone (permanent); 429/502/504 throttle, honouring Retry-After; any other status is a failure
  the spec says to retry, so it is transient. No remote id or URL; no reconcile: the receiver
  dedupes, so an unknown outcome is resent with the same ``webhook-id``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from channels.base import (
    Adapter,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    retry_after_seconds,
)

TIMEOUT_S = 20.0  # the spec advises 15-30 s
MIN_SECRET_BYTES = 24  # the spec: random, at least 24 bytes


class WebhookChannel(Adapter):
    """POST a signed JSON event to one URL."""

    type = "webhook"
    deduplicates = True

    def _signer(self):  # type: ignore[no-untyped-def]
        """The signer for our secret, refusing anything but ``whsec_`` + ≥ 24 random bytes."""
        from standardwebhooks import Webhook

        secret = self.secret()
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not secret.startswith("whsec_") or len(key) < MIN_SECRET_BYTES:
            raise PermanentError(
                f"{self.name}: the secret must be whsec_ followed by the base64 of at least"
                f" {MIN_SECRET_BYTES} random bytes (Standard Webhooks)"
            )
        return Webhook(key)

    def body(self, message: Message) -> str:
        """The exact JSON text that is signed and sent."""
        event = {
            "type": "post.published",
            "timestamp": self.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
            "data": {
                "post": message.post_id,
                "delivery": message.delivery_id,
                "campaign": message.campaign,
                "text": message.text,
                "link": message.link,
                "media": [{"sha256": m.sha256, "alt": m.alt} for m in message.media],
            },
        }
        return json.dumps(event, ensure_ascii=False, separators=(",", ":"))

    def _classify_answer(self, response: Any, body: Any) -> bool | None:
        """Standard Webhooks outcomes (§10): only a 2xx is success."""
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise PermanentError(
                f"{self.name}: redirected ({status}); fix the url, redirects are not followed"
            )
        if status == 410:
            raise PermanentError(f"{self.name}: the receiver says the endpoint is gone (410)")
        raise TransientError(
            f"{self.name}: receiver answered {status}",
            retry_after_seconds(response.headers, self.now()),
        )

    def _publish(self, message: Message) -> Receipt:
        signer = self._signer()
        now = self.now()
        body = self.body(message)
        headers = {
            "content-type": "application/json",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(message.idempotency_key, now, body),
        }
        self.request(
            "POST",
            self.options["url"],
            sends=True,
            classify=self._classify_answer,
            content=body.encode("utf-8"),
            headers=headers,
            timeout=TIMEOUT_S,
            follow_redirects=False,
        )
        return Receipt()

    def _check(self) -> str:
        self._signer()
        response = self.request(
            "HEAD",
            self.options["url"],
            sends=False,
            classify=lambda response, body: True,  # any answer shows it is there
            timeout=TIMEOUT_S,
            follow_redirects=False,
        )
        return (
            f"secret is a valid whsec_ key; {self.options['url']} answers ({response.status_code})"
        )
