"""A notice as an email (#44): plain text and HTML, the facility-local release time first (with
its offset and zone name), a ``Message-ID`` fixed by the notice message (a retry is the same
mail to a receiver that dedupes), and the acknowledgement page's link. Pure.

The subject names the booking and facility, never the person: subjects end up in mail logs.
"""

from __future__ import annotations

import hashlib
import html
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime

from schemas.notices import Notice
from services.core.localtime import to_local

KIND_TITLES = {
    "notice_due": "Release notice",
    "release_changed": "Release time changed",
    "release_cancelled": "Release cancelled",
    "released": "Released",
}


def message_id(notice_message_id: str) -> str:
    digest = hashlib.sha256(notice_message_id.encode()).hexdigest()[:32]
    return f"<{digest}@notices.releasewatch>"


def release_lines(notice: Notice) -> list[str]:
    """``Tue 2027-03-02 09:00 CST (UTC-06:00, America/Chicago)``, then UTC."""
    data = notice.data
    if data.release_at is None:
        return ["Release: not scheduled"]
    zone = data.facility.timezone
    local = to_local(data.release_at, zone)
    offset = local.strftime("%z")
    return [
        f"Release: {local.strftime('%a %Y-%m-%d %H:%M %Z')} (UTC{offset[:3]}:{offset[3:]}, {zone})",
        f"         {data.release_at.astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC",
    ]


def text_of(notice: Notice, ack_page: str | None, ack_expires: str | None) -> str:
    data = notice.data
    subject = data.subject
    title = KIND_TITLES.get(data.kind.value, "Notice")
    lead = f"{data.lead_hours:.1f} h before the release" if data.lead_hours is not None else "-"
    lines = [
        f"{title.upper()} for {data.agency}, request {data.request_id}",
        "",
        *release_lines(notice),
        f"Notice: {lead}{' (LATE: less than the window asked for)' if data.late else ''}",
        f"Facility: {data.facility.name} ({data.facility.id})",
        f"Booking: {subject.booking_id}",
        f"Person: {subject.last_name}, {subject.first_name}; born {subject.date_of_birth}; "
        f"person id {subject.person_id}",
        "",
        f"Notice id: {data.notice_id} (attempt {data.attempt})",
        f"Issued: {format_datetime(data.issued_at)}",
    ]
    if ack_page:
        lines += ["", f"Acknowledge (until {ack_expires}): {ack_page}"]
    return "\n".join(lines) + "\n"


def html_of(text: str, ack_page: str | None) -> str:
    body = html.escape(text)
    if ack_page:
        escaped = html.escape(ack_page)
        body = body.replace(escaped, f'<a href="{escaped}">acknowledge this notice</a>')
    return f'<html><body><pre style="font-family: sans-serif">{body}</pre></body></html>\n'


def email_of(
    notice: Notice,
    sender: str,
    to: tuple[str, ...],
    ack_page: str | None = None,
    ack_expires: str | None = None,
) -> EmailMessage:
    data = notice.data
    title = KIND_TITLES.get(data.kind.value, "Notice")
    text = text_of(notice, ack_page, ack_expires)
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = (
        f"{title}: booking {data.subject.booking_id}, {data.facility.name}"
        f"{' (LATE)' if data.late else ''}"
    )
    mail["Message-ID"] = message_id(notice.event_id)
    mail["Date"] = format_datetime(data.issued_at)
    mail["X-Releasewatch-Notice-Id"] = data.notice_id
    mail.set_content(text)
    mail.add_alternative(html_of(text, ack_page), subtype="html")
    return mail
