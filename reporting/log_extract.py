"""The patient's log extract as a PDF (API.md "Log review and the patient's log extract"): a
report run of kind `log_extract`, registered with `visits.extension` so that the log review
(`visits.log_review.log_extract_pdf_request`) queues it without importing reporting.

The run holds no identity number: its `LogExtractOrder` row has the identity's keyed hash, the
masked identity, the period and the moment of the request; the task gets the run's id only; the
file is named from the run's id. Only the log reviewers of the run's organisation see the run
or download its file (`reporting.selectors.report_runs`); it is never submitted, and every
request is a new run. Downloading it is an access to the child's data, logged as such.
"""

from __future__ import annotations

import uuid
from typing import IO, TYPE_CHECKING, Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from reporting import runs, storage
from reporting.models import LogExtractOrder, ReportKind, ReportRun
from visits import log_review
from visits.extension import ExtractOrder
from visits.models import AccessAction

if TYPE_CHECKING:
    from rest_framework.request import Request

    from core.models import User


def log_extract_order(*, user: User, order: ExtractOrder) -> ReportRun:
    """A queued run with its order (one transaction; the task is enqueued after commit with the
    run's id only). The caller (`visits.log_review`) has checked that the user reviews the
    organisation's log and has logged the access."""
    with transaction.atomic():
        run = ReportRun(
            kind=ReportKind.LOG_EXTRACT,
            organisation_id=order.organisation_id,
            year=timezone.localdate(order.as_of).year,
            requested_by=user,
        )
        run.full_clean()
        run.save()
        extract = LogExtractOrder(
            run=run,
            identity_hash=order.identity_hash,
            child_id=order.child_id,
            child_masked=order.child_masked,
            period_from=order.start,
            period_to=order.end,
            as_of=order.as_of,
        )
        extract.full_clean()
        extract.save()
        runs.enqueue(run)
    return run


def log_extract_download(*, user: User, run: ReportRun) -> IO[bytes]:
    """The run's file, open for reading; the download is logged as an export of the child's
    data (the file lists who accessed it), with its identity hash. `FileNotFoundError` when the
    store has lost the file. The caller has found the run among the user's, done."""
    order = LogExtractOrder.objects.get(run=run)
    handle = storage.open(run.file_name)
    with transaction.atomic():
        log_review.log_extract_access(
            user=user,
            action=AccessAction.EXPORT,
            child_id=order.child_id,
            identity_hash=order.identity_hash,
        )
    return handle


class LogExtractPdf:
    """`visits.extension.LogExtractPdf`, registered in `ReportingConfig.ready()`."""

    def order(self, *, user: User, order: ExtractOrder) -> uuid.UUID:
        return log_extract_order(user=user, order=order).pk

    def page_url(self, run_id: uuid.UUID) -> str:
        return reverse("reporting:run", args=[run_id])

    def api_body(self, request: Request, run_id: uuid.UUID) -> dict[str, Any]:
        from core.api.helpers import api_user
        from reporting import selectors
        from reporting.api.serializers import ReportRunSerializer, run_row

        run = selectors.report_runs(user=api_user(request)).get(pk=run_id)
        return dict(ReportRunSerializer(run_row(request, run)).data)
