"""Email by SMTP submission (channels.md §11).

Implicit TLS (``mode = "tls"``, port 465) or STARTTLS (``mode = "starttls"``, port 587),
certificates always verified, never a fall-back to cleartext (RFC 8314 §3.3, §5); then
``login`` when ``username`` is set, with the password from ``token_env``/``token_file``.
``Message-ID`` is ``<sp.<idempotency key>@<sender domain>>`` so a duplicate is recognisable.
Success is the 250 after DATA (RFC 5321). Errors: 4yz transient, 5yz permanent, 535
credentials; a connection that drops once the message is on its way may still have
delivered (channels.md, unverified), so that is ``OutcomeUnknown`` and the delivery waits
for a person; SMTP has no idempotency and we do not search a Sent folder, so there is no
lookup. Images are attached only if they still hash to what was approved. The send
deadline bounds the connection (its timeout) and the transaction: past it before DATA
nothing is sent (transient); a timeout once sending has begun is an unknown outcome.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from channels.base import Adapter, Message, OutcomeUnknown, PermanentError, Receipt, TransientError

TIMEOUT_S = 30.0


class EmailChannel(Adapter):
    """Send each post as one email to the configured recipients."""

    type = "email"
    deduplicates = False

    def message_id(self, message: Message) -> str:
        domain = parseaddr(self.options["from"])[1].rpartition("@")[2] or "signpost.invalid"
        return f"<sp.{message.idempotency_key}@{domain}>"

    def compose(self, message: Message) -> EmailMessage:
        """The email as it is sent."""
        mail = EmailMessage()
        mail["From"] = self.options["from"]
        recipients = self.options["to"]
        mail["To"] = ", ".join(recipients) if isinstance(recipients, list) else recipients
        mail["Subject"] = message.title or " ".join(message.text.split())[:78]
        mail["Date"] = format_datetime(self.now())
        mail["Message-ID"] = self.message_id(message)
        mail.set_content(message.text)
        for image in self.media_files(message):
            main, _, sub = image.mime.partition("/")
            mail.add_attachment(image.data, maintype=main, subtype=sub, filename=image.name)
        return mail

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.options.get("ca_file"))

    def _connect(self) -> smtplib.SMTP:
        """An authenticated TLS connection; closed again if any step of opening it fails."""
        host = self.options["host"]
        mode = self.options.get("mode", "starttls")
        port = int(self.options.get("port", 465 if mode == "tls" else 587))
        server: smtplib.SMTP | None = None
        timeout = self.budget(TIMEOUT_S, sends=False)
        try:
            if mode == "tls":
                server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._tls())
            else:
                server = smtplib.SMTP(host, port, timeout=timeout)
                server.starttls(context=self._tls())
            if self.options.get("username"):
                server.login(self.options["username"], self.secret())
            return server
        except ssl.SSLCertVerificationError as exc:
            error: Exception = PermanentError(
                f"{self.name}: certificate of {host} not trusted ({exc.verify_message})"
            )
        except smtplib.SMTPAuthenticationError:
            error = PermanentError(f"credentials rejected by {self.name} ({host})")
        except smtplib.SMTPNotSupportedError:
            error = PermanentError(
                f"{self.name}: {host} does not offer STARTTLS; refusing cleartext"
            )
        except smtplib.SMTPResponseException as exc:
            error = _by_code(self.name, exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            error = TransientError(
                f"{self.name}: cannot reach {host}:{port} ({type(exc).__name__})"
            )
        except PermanentError as exc:  # the password could not be read
            error = exc
        if server is not None:
            server.close()
        raise error

    def _publish(self, message: Message) -> Receipt:
        mail = self.compose(message)
        server = self._connect()
        try:
            left = self.budget(TIMEOUT_S, sends=True)  # from here on it may be delivered
            if server.sock is not None:
                server.sock.settimeout(left)
            server.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(f"{addr}: {code}" for addr, (code, _) in exc.recipients.items())
            raise PermanentError(f"{self.name}: recipients refused ({codes})") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(self.name, exc.smtp_code, exc.smtp_error) from None
        except (TimeoutError, smtplib.SMTPException, OSError, ValueError) as exc:
            raise OutcomeUnknown(
                f"{self.name}: connection lost while sending ({type(exc).__name__})"
            ) from None
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError, ValueError):
                server.close()
        return Receipt(remote_id=mail["Message-ID"])

    def _check(self) -> str:
        server = self._connect()
        server.quit()
        who = f" as {self.options['username']}" if self.options.get("username") else ""
        return f"connected to {self.options['host']} with TLS{who}"


def _by_code(channel: str, code: int, said: bytes | str) -> Exception:
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    if code == 535:
        return PermanentError(f"credentials rejected by {channel}")
    if 400 <= code < 500:
        return TransientError(f"{channel}: server said {code} {text}")
    return PermanentError(f"{channel}: server said {code} {text}")
