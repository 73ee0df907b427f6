"""Mail goes out after commit through an outbox and Celery (issue 25, item 9): a mail server
that is down never fails the decision that caused the mail, the mail is tried again until it
goes, and each recipient gets it once."""

from __future__ import annotations

import datetime
import smtplib
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.exceptions import Retry
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from core import mail as outbox
from core.models import OutgoingMail, Role, User
from core.tasks import send_mail, send_pending_mail
from funding.applications import application_approve, application_submit
from funding.models import ApplicationStatus
from tests.core.factories import CentreFactory, OrganisationFactory, UserFactory, member
from tests.funding.factories import draft

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)


class MailServerDown(BaseEmailBackend):
    """Every send fails as an unreachable SMTP server does."""

    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def person(role: str, email: str, **where: object) -> User:
    return member(role, user=UserFactory.create(email=email), **where)


@pytest.fixture(autouse=True)
def _now() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world() -> dict[str, Any]:
    org = OrganisationFactory()
    centre = CentreFactory(organisation=org, name="Vivalla/Lundby")
    manager = person(Role.CENTRE_MANAGER, "chef@bvc.example", centre=centre)
    person(Role.NURSE, "bvc-ssk@bvc.example", centre=centre)
    cbhv = person(Role.CBHV, "cbhv@region.example", organisation=org)
    submitted = application_submit(user=manager, application=draft(centre, by=manager))
    mail.outbox.clear()
    OutgoingMail.objects.all().delete()
    return {"cbhv": cbhv, "manager": manager, "submitted": submitted}


def test_a_decision_writes_one_outbox_row_per_recipient_and_sends_each_after_commit(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        application_approve(user=world["cbhv"], application=world["submitted"])
        # Inside the decision's transaction: written, not sent.
        assert sorted(OutgoingMail.objects.values_list("to", flat=True)) == [
            "bvc-ssk@bvc.example",
            "chef@bvc.example",
        ]
        assert mail.outbox == []
    assert len(callbacks) == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["bvc-ssk@bvc.example", "chef@bvc.example"]
    assert all(len(m.to) == 1 for m in mail.outbox)  # nobody sees the others' addresses
    assert {m.subject for m in mail.outbox} == {"Ansökan beviljad: Vivalla/Lundby 2026"}
    assert list(OutgoingMail.objects.filter(sent__isnull=True)) == []
    assert set(OutgoingMail.objects.values_list("sent", flat=True)) == {NOW}


def test_a_rolled_back_decision_leaves_no_outbox_row_and_sends_nothing(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        application_approve(user=world["cbhv"], application=world["submitted"])
        raise RuntimeError("later step fails")
    assert OutgoingMail.objects.count() == 0
    assert mail.outbox == []


def test_a_mail_server_that_is_down_never_fails_the_approval_and_the_sweep_sends_it_later(
    world: dict[str, Any],
    api_client_for: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    _now: Any,
) -> None:
    """The defect of issue 25: approving answered 500 after the approval was saved."""
    settings.EMAIL_BACKEND = "tests.core.test_mail.MailServerDown"
    client = api_client_for(world["cbhv"])
    url = f"/api/v1/applications/{world['submitted'].pk}/approve/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    world["submitted"].refresh_from_db()
    assert world["submitted"].status == ApplicationStatus.APPROVED

    rows = list(OutgoingMail.objects.order_by("to"))
    assert [r.to for r in rows] == ["bvc-ssk@bvc.example", "chef@bvc.example"]
    # The task tried once (a worker would retry it with backoff; in the test's process the
    # retry is not run) and recorded why it failed.
    assert [(r.sent, r.attempts) for r in rows] == [(None, 1), (None, 1)]
    assert rows[0].last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert mail.outbox == []

    # The server is back; the sweep takes rows older than 10 minutes, not fresher ones.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _now.shift(datetime.timedelta(minutes=9))
    assert send_pending_mail.apply().get() == 0
    _now.shift(datetime.timedelta(minutes=2))
    assert send_pending_mail.apply().get() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["bvc-ssk@bvc.example", "chef@bvc.example"]
    # Sent once: a second sweep, and a task that comes late, send nothing more.
    assert send_pending_mail.apply().get() == 0
    assert send_mail.apply(args=[str(rows[0].pk)]).get() is False
    assert len(mail.outbox) == 2


def test_a_broker_that_cannot_be_reached_at_commit_leaves_the_row_to_the_sweep(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    with (
        mock.patch.object(send_mail, "delay", side_effect=ConnectionError("redis down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        application_approve(user=world["cbhv"], application=world["submitted"])
    assert OutgoingMail.objects.filter(sent__isnull=True).count() == 2
    assert mail.outbox == []
    assert "not sent now; the outbox sweep tries again" in caplog.text


def test_a_row_is_sent_at_most_once_and_given_up_after_20_attempts(
    world: dict[str, Any], _now: Any
) -> None:
    [first, second] = outbox.queue_mail(
        to=["a@region.example", "b@region.example", "a@region.example", ""],
        subject="Påminnelse",
        body="Text",
    )
    assert outbox.send_one(first.pk) is True
    assert outbox.send_one(first.pk) is False
    assert [m.to for m in mail.outbox] == [["a@region.example"]]

    OutgoingMail.objects.filter(pk=second.pk).update(attempts=outbox.MAX_ATTEMPTS)
    _now.shift(datetime.timedelta(hours=1))
    assert outbox.pending_ids() == []
    OutgoingMail.objects.filter(pk=second.pk).update(attempts=outbox.MAX_ATTEMPTS - 1)
    assert outbox.pending_ids() == [second.pk]


def test_the_sweep_is_scheduled_and_routed(settings: Any) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["send-pending-mail"] == {
        "task": "core.send_pending_mail",
        "schedule": 600,
    }
    assert settings.CELERY_TASK_ROUTES["core.send_mail"] == {"queue": "default"}


def test_the_task_asks_celery_to_retry_when_the_server_is_down(
    world: dict[str, Any], settings: Any
) -> None:
    settings.EMAIL_BACKEND = "tests.core.test_mail.MailServerDown"
    [row] = outbox.queue_mail(to=["a@region.example"], subject="Påminnelse", body="Text")
    with pytest.raises(Retry) as retry:
        send_mail.apply(args=[str(row.pk)])
    assert str(retry.value) == (
        "Retry in 60s: MailNotSent('SMTPServerDisconnected: Connection unexpectedly closed')"
    )
    row.refresh_from_db()
    assert (row.sent, row.attempts) == (None, 1)
