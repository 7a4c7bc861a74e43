"""Email out: SMTP when MAIL_SERVER is set, else one .eml file per message in the outbox.

Why the standard library (smtplib + email.message) rather than Flask-Mailman: the
outbox wants exactly one RFC 5322 file per message, which any mail client opens and
`email.parser` reads back for the Outbox page (Flask-Mailman's file backend appends
every message of a connection to one .log file); and the reminder job needs the SMTP
reply codes themselves to tell a temporary failure (retry later, keep the reminder
pending) from a permanent refusal. That is a few dozen lines here, no dependency.

Outbox files are named `org<organization id>-<UTC time>-<random>.eml`, so the
Outbox page lists an organization's own mail only.
"""

import re
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from flask import current_app

ORGANIZATION_HEADER = "X-Covered-Organization"
OUTBOX_NAME = re.compile(r"^org(?P<org>\d+)-(?P<stamp>\d{8}T\d{12})-(?P<token>[0-9a-f]{12})\.eml$")
OUTBOX_LIST_LIMIT = 200


class MailDeliveryError(Exception):
    """The message was not accepted. `permanent`: retrying the same message is pointless."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def compose(
    *, to: str, subject: str, text: str, html: str | None, organization_id: int
) -> EmailMessage:
    """A multipart/alternative message (plain text first, HTML preferred by clients)."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].partition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message[ORGANIZATION_HEADER] = str(organization_id)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def uses_smtp() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def deliver(message: EmailMessage) -> str:
    """Hand the message to the SMTP server, or write it to the outbox.

    Returns where it went.

    Raises:
        MailDeliveryError: the server did not accept it (`temporary` says whether to retry).
    """
    if uses_smtp():
        _send_smtp(message)
        return f"smtp:{current_app.config['MAIL_SERVER']}"
    return f"outbox:{_write_outbox(message).name}"


def _send_smtp(message: EmailMessage) -> None:
    config = current_app.config
    host, port, timeout = config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_TIMEOUT"]
    try:
        if config.get("MAIL_USE_SSL"):
            connection = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
        with connection as smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _text in error.recipients.values()]
        raise MailDeliveryError(
            f"The mail server refused the recipient: {_describe_refusals(error.recipients)}",
            permanent=all(code >= 500 for code in codes),
        ) from error
    except smtplib.SMTPDataError as error:
        raise MailDeliveryError(
            f"The mail server refused the message ({error.smtp_code} {_text(error.smtp_error)})",
            permanent=error.smtp_code >= 500,
        ) from error
    except smtplib.SMTPResponseException as error:
        # Sender refused, authentication failed, …: the server's or our configuration's
        # problem, not this message's. Keep it pending and try again later.
        raise MailDeliveryError(
            f"The mail server answered {error.smtp_code} {_text(error.smtp_error)}",
            permanent=False,
        ) from error
    except (smtplib.SMTPException, OSError) as error:
        raise MailDeliveryError(
            f"Could not talk to the mail server {host}:{port} ({error})", permanent=False
        ) from error
    if refused:  # some recipients refused, others accepted: the message went out
        current_app.logger.warning("mail server refused %s", _describe_refusals(refused))


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _describe_refusals(refusals: dict) -> str:
    return "; ".join(
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in refusals.items()
    )


# Outbox ----------------------------------------------------------------------------


def outbox_path() -> Path:
    return Path(current_app.config["OUTBOX_PATH"])


def _write_outbox(message: EmailMessage) -> Path:
    """Write atomically (temporary name, then rename), so readers never see half a file."""
    folder = outbox_path()
    folder.mkdir(parents=True, exist_ok=True)
    organization_id = int(message[ORGANIZATION_HEADER])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"org{organization_id}-{stamp}-{uuid.uuid4().hex[:12]}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(message.as_bytes(policy=policy.SMTP))
    partial.replace(path)
    return path


@dataclass
class OutboxEntry:
    name: str
    sent_at: datetime  # naive UTC, like every stored time
    to: str
    subject: str
    size: int


@dataclass
class OutboxMessage(OutboxEntry):
    sender: str
    text: str
    html: str | None


def _sent_at(name: str) -> datetime:
    stamp = OUTBOX_NAME.match(name)["stamp"]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%f")


def _parse(path: Path, *, headers_only: bool):
    with path.open("rb") as handle:
        return BytesParser(policy=policy.default).parse(handle, headersonly=headers_only)


def outbox_entries(organization_id: int, *, limit: int = OUTBOX_LIST_LIMIT) -> list[OutboxEntry]:
    """The organization's outbox, newest first (headers only)."""
    folder = outbox_path()
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob(f"org{organization_id}-*.eml"), reverse=True)
    entries = []
    for path in paths[:limit]:
        if not OUTBOX_NAME.match(path.name):
            continue
        parsed = _parse(path, headers_only=True)
        entries.append(
            OutboxEntry(
                name=path.name,
                sent_at=_sent_at(path.name),
                to=str(parsed["To"] or ""),
                subject=str(parsed["Subject"] or ""),
                size=path.stat().st_size,
            )
        )
    return entries


def outbox_count(organization_id: int) -> int:
    folder = outbox_path()
    return len(list(folder.glob(f"org{organization_id}-*.eml"))) if folder.is_dir() else 0


def read_outbox_message(organization_id: int, name: str) -> OutboxMessage | None:
    """One message of the organization's outbox; None for anything else (bad name, other org)."""
    match = OUTBOX_NAME.match(name)
    if match is None or int(match["org"]) != organization_id:
        return None
    path = outbox_path() / name
    if not path.is_file():
        return None
    parsed = _parse(path, headers_only=False)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    return OutboxMessage(
        name=name,
        sent_at=_sent_at(name),
        to=str(parsed["To"] or ""),
        subject=str(parsed["Subject"] or ""),
        size=path.stat().st_size,
        sender=str(parsed["From"] or ""),
        text=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else None,
    )
