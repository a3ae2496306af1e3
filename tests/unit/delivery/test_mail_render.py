"""A notice as an email: the facility-local time first with offset and zone name, a
Message-ID fixed by the notice message, no person in the subject, the acknowledgement link."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from services.delivery import mail_render
from services.notification import domain as rules
from tests.unit.notification.test_notices import alerts, known
from tests.unit.scheduling.world import START

PAGE = "https://rw.county.gov/acks/notice%7Cx?booking=us-mn-hennepin%2F2027-000123&token=a.b"


def notice():  # type: ignore[no-untyped-def]
    outcome = rules.on_alert(known(), alerts()[0], rules.DEFAULT_POLICY, START)
    return outcome.notices[0]


def rendered(page: str | None = PAGE) -> EmailMessage:
    mail = mail_render.email_of(notice(), "rw <n@county.gov>", ("ero@ice.dhs.gov",), page, "x")
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_release_time_comes_first_in_facility_time_with_offset_and_zone() -> None:
    data = notice().data
    text = rendered().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = text.splitlines()
    release = next(line for line in lines if line.startswith("Release:"))
    assert lines.index(release) == 2  # after the title, before anything else
    assert "(UTC-05:00, America/Chicago)" in release or "(UTC-06:00, America/Chicago)" in release
    assert data.release_at is not None
    assert data.release_at.strftime("%Y-%m-%d %H:%M") + " UTC" in text


def test_the_message_id_is_the_notice_messages_and_the_subject_names_no_one() -> None:
    mail = rendered()
    assert mail["Message-ID"] == mail_render.message_id(notice().event_id)
    assert mail_render.message_id("a") != mail_render.message_id("b")
    subject = notice().data.subject
    assert subject.last_name not in mail["Subject"] and subject.first_name not in mail["Subject"]
    assert subject.booking_id in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert subject.last_name in text  # the agency needs to know whom it is about


def test_plain_text_and_html_both_carry_the_acknowledgement_link() -> None:
    mail = rendered()
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert PAGE in text
    assert (
        'href="https://rw.county.gov/acks/notice%7Cx?booking=us-mn-hennepin%2F2027-000123&amp;token=a.b"'
        in html
    )
    assert "<script" not in html
    assert "Acknowledge" not in rendered(None).get_body(("plain",)).get_content()  # type: ignore[union-attr]
