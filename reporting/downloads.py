"""A run's file as an HTTP attachment, for the report pages and the API alike."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.utils.text import slugify

from core.models import User
from reporting import services
from reporting.log_extract import log_extract_download
from reporting.models import ReportKind, ReportRun


def download_name(run: ReportRun) -> str:
    """kind, year and the grant's reference or the centre's name: never a person."""
    parts = [run.kind.replace("_", "-"), str(run.year)]
    if run.grant is not None:
        parts.append(slugify(run.grant.reference))
    elif run.centre is not None:
        parts.append(slugify(run.centre.name))
    extension = run.file_name.rsplit(".", 1)[-1] if "." in run.file_name else "bin"
    return "-".join(p for p in parts if p) + "." + extension


def download_response(user: User, run: ReportRun) -> FileResponse:
    """The run's file as an attachment, not cached, not sniffed; the download is logged
    (`services.report_download`; a log extract's with its child: `log_extract_download`). The
    caller has found the run among the user's, done."""
    try:
        if run.kind == ReportKind.LOG_EXTRACT:
            # The one file about a child: its download is logged with the child.
            handle = log_extract_download(user=user, run=run)
        else:
            handle = services.report_download(user=user, run=run)
    except FileNotFoundError as exc:  # the store was lost or is not shared with the worker
        raise Http404 from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=download_name(run),
        content_type=run.content_type or "application/octet-stream",
    )
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
