"""Writing the access log (Patientdatalagen): one row per child shown or changed.

Every page, API response and export that shows a child's data logs the children it shows and
the care unit through which each is in the user's scope: reads through `visits.selectors`,
writes in `visits.services`, never a view by hand (tests/test_architecture.py). Lists count as
reads of every child shown. Identity numbers never go into the log; a keyed hash of the
identity (its own key, ACCESS_LOG_KEY) lets a patient's log extract find the rows after the
child's record is gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from visits.identity import identity_hash
from visits.models import AccessAction, AccessLog

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from core.models import User
    from visits.models import Child


def log_children(
    *,
    user: User | AnonymousUser,
    action: str,
    entries: Iterable[tuple[Child, uuid.UUID | None]],
    what: str,
) -> int:
    """Log `action` on each (child, care unit) pair, once per child; returns the rows written."""
    seen: set[uuid.UUID] = set()
    rows = []
    for child, care_unit in entries:
        if child.pk in seen:
            continue
        seen.add(child.pk)
        rows.append(
            AccessLog(
                user_id=user.pk,
                username=user.get_username(),
                care_unit=care_unit,
                action=AccessAction(action),
                child_id=child.pk,
                identity_hash=identity_hash(child.identity_type, child.identity),
                what=what,
            )
        )
    AccessLog.objects.bulk_create(rows)
    return len(rows)


def log_without_patient(*, user: User | AnonymousUser, action: str, what: str) -> None:
    """A download of aggregates (a report): logged, with no patient."""
    AccessLog.objects.create(
        user_id=user.pk, username=user.get_username(), action=AccessAction(action), what=what
    )
