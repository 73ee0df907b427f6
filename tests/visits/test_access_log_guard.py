"""The access log cannot be rewritten by the application's own role (issue 24): its append-only
triggers honour `pgtrigger.ignore` only for the table's owner (core.db_guards), as the money
records' do, and the role can neither disable them nor truncate the table."""

from __future__ import annotations

import pytest

from tests.funding.test_ledger_lockdown import as_app_role, execute, refused
from visits.models import AccessAction, AccessLog

APPEND_ONLY = "Cannot update or delete rows from visits_accesslog"


@pytest.fixture
def logged() -> AccessLog:
    return AccessLog.objects.create(username="nurse", action=AccessAction.READ, what="child")


@pytest.mark.django_db(transaction=True)
def test_the_application_role_cannot_ignore_the_access_logs_triggers(logged: AccessLog) -> None:
    with as_app_role():
        execute(
            "SELECT set_config('pgtrigger.ignore', array_agg(tgname)::text, true)"
            " FROM pg_trigger WHERE tgname LIKE 'pgtrigger_%'"
        )
        with refused(APPEND_ONLY):
            execute("DELETE FROM visits_accesslog WHERE id = %s", [logged.pk])
        with refused(APPEND_ONLY):
            execute("UPDATE visits_accesslog SET username = 'someone' WHERE id = %s", [logged.pk])
    assert AccessLog.objects.filter(pk=logged.pk, username="nurse").exists()


@pytest.mark.django_db(transaction=True)
def test_the_application_role_cannot_disable_or_truncate_the_access_log(logged: AccessLog) -> None:
    with as_app_role():
        with refused("must be owner of table visits_accesslog"):
            execute("ALTER TABLE visits_accesslog DISABLE TRIGGER ALL")
        with refused("permission denied for table visits_accesslog"):
            execute("TRUNCATE visits_accesslog")
    with (
        as_app_role(extra_grant="GRANT TRUNCATE ON visits_accesslog TO {role}"),
        refused("The access log is append-only"),
    ):
        execute("TRUNCATE visits_accesslog")
    assert AccessLog.objects.filter(pk=logged.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_application_role_still_appends_to_the_log(logged: AccessLog) -> None:
    with as_app_role():
        AccessLog.objects.create(username="nurse", action=AccessAction.READ, what="visit")
        assert AccessLog.objects.count() == 2
