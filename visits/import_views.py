"""The journal import's pages (issue 26; API.md "Importing visits from the journal system"):
upload a journal export, follow its preview, read the rows per outcome, commit the new ones.

The work is `visits.imports.service`'s: the upload is read in Celery, so the detail page polls
its state region with htmx while the import is queued, read or saved (as reporting's run page
does), and reloads it by a plain link without JavaScript. The rows name children (masked): the
children on the page shown are logged as read, as the visit list logs its rows.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from core.exceptions import Conflict
from core.forms import ServiceForm
from core.models import Centre, User
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from visits.imports.reader import CONTRACT_COLUMNS, REQUIRED_COLUMNS
from visits.imports.service import (
    FILE_DAYS,
    import_centre,
    import_check_size,
    import_request,
    import_request_commit,
    import_rows,
    imports_visible,
)
from visits.models import (
    CHILD_ROLES,
    ImportStatus,
    RowOutcome,
    VisitImport,
    VisitImportRow,
)
from visits.selectors import (
    ChildData,
    child_centre_ids,
    child_centres,
    record_read,
    works_at_several_centres,
)
from visits.views import Key, keyset_page

LIST_PAGE_SIZE = 25  # imports on the list page; the rows are paged 50 (keyset_page)
POLL_SECONDS = 1
ACTIVE = (ImportStatus.QUEUED, ImportStatus.PREVIEWING, ImportStatus.COMMITTING)
ROW_KEYS = (Key("number", int),)


# --- The upload form --------------------------------------------------------------------------
class ImportUploadForm(ServiceForm):
    """The file and, for a user of several centres, the centre. The centre is checked by the
    service (`import_centre`), so its refusal reads the same on the page and in the API."""

    file = forms.FileField(
        label=gettext_lazy("Fil från journalsystemet (CSV eller Excel)"),
        error_messages={"required": gettext_lazy("Välj en fil att importera.")},
        widget=forms.FileInput(attrs={"accept": ".csv,.xlsx"}),
    )
    centre = forms.CharField(label=gettext_lazy("BVC"), required=False, widget=forms.Select)

    def __init__(self, *args: Any, centres: QuerySet[Centre] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _file_help()
        if centres is None:
            del self.fields["centre"]
        else:
            self.fields["centre"].widget.choices = [
                ("", _("Välj BVC")),
                *((str(c.pk), c.name) for c in centres.order_by("name")),
            ]

    def clean_file(self) -> UploadedFile[bytes]:
        upload = self.cleaned_data["file"]
        assert isinstance(upload, UploadedFile)
        try:
            import_check_size(upload.size)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["file"], code="too_large") from None
        return upload


def _file_help() -> str:
    return _(
        "Första raden är rubriker: %(required)s och, om de finns, %(optional)s. CSV eller "
        "Excel (XLSX), högst %(size)s MB. Filen tas bort när importen är sparad, eller efter "
        "%(days)s dagar."
    ) % {
        "required": ", ".join(REQUIRED_COLUMNS),
        "optional": ", ".join(c for c in CONTRACT_COLUMNS if c not in REQUIRED_COLUMNS),
        "size": f"{settings.IMPORT_MAX_BYTES / (1024 * 1024):g}".replace(".", ","),
        "days": FILE_DAYS,
    }


# --- Helpers ----------------------------------------------------------------------------------
def _import_for_user(user: User, pk: uuid.UUID) -> VisitImport:
    """An import of one of the user's centres; 404 for any other (API.md)."""
    visit_import: VisitImport = get_object_or_404(imports_visible(user), pk=pk)
    return visit_import


def _counts(visit_import: VisitImport) -> list[tuple[str, str, int]]:
    """(outcome, label, count) per outcome, labelled as the count fields are ("nya", …)."""
    fields = {f.name: f for f in VisitImport._meta.concrete_fields}
    return [
        (
            outcome,
            str(fields[f"count_{outcome}"].verbose_name).capitalize(),
            getattr(visit_import, f"count_{outcome}"),
        )
        for outcome in RowOutcome.values
    ]


def _shown(row: VisitImportRow) -> ChildData | None:
    """What the row shows of a child, for the access log: its enrolment at the import's centre
    (the care unit through which it is the user's), else the child itself."""
    if row.enrolment is not None:
        return row.enrolment
    return row.child


def _rows_context(request: HttpRequest, user: User, visit_import: VisitImport) -> dict[str, Any]:
    """The preview's counts and one page of its rows (of `?outcome=`), the children shown
    logged as read."""
    outcome = request.GET.get("outcome", "")
    error = ""
    try:
        rows = import_rows(visit_import, outcome)
    except ValidationError as exc:
        error, outcome = " ".join(exc.messages), ""
        rows = import_rows(visit_import)
    page = keyset_page(request, rows.select_related("child", "enrolment__child", "visit"), ROW_KEYS)
    record_read(
        user=user,
        rows=[shown for row in page.rows if (shown := _shown(row)) is not None],
        what="visit_import_rows",
    )
    scope = child_centre_ids(user)
    detail = reverse("visits:import_detail", args=[visit_import.pk])
    return {
        "outcome": outcome,
        "outcome_label": RowOutcome(outcome).label if outcome else "",
        "outcome_error": error,
        "counts": [
            (label, number, f"{detail}?outcome={name}", name == outcome)
            for name, label, number in _counts(visit_import)
        ],
        "all_url": detail,
        "page": page,
        "rows": [
            (
                row,
                reverse("visits:visit_detail", args=[row.visit_id])
                if row.visit is not None and row.visit.centre_id in scope
                else "",
            )
            for row in page.rows
        ],
    }


def _detail_context(request: HttpRequest, user: User, visit_import: VisitImport) -> dict[str, Any]:
    active = visit_import.status in ACTIVE
    context: dict[str, Any] = {
        "visit_import": visit_import,
        "active": active,
        "poll_seconds": POLL_SECONDS,
        "nav_import": True,
    }
    # A failed preview has no counts (its rows may be partial); a failed commit keeps its
    # preview, which the error's row number points into.
    if not active and visit_import.count_rows:
        context.update(_rows_context(request, user, visit_import))
    return context


# --- Pages ------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    """The upload form and the imports of the user's centres, newest first."""
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    several = works_at_several_centres(user)
    centres = child_centres(user) if several else None
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES, centres=centres)
        if form.is_valid():
            upload: UploadedFile[bytes] = form.cleaned_data["file"]
            try:
                centre = import_centre(user, form.cleaned_data.get("centre"))
                upload.seek(0)
                visit_import = import_request(
                    user=user, centre=centre, file=upload, file_name=upload.name or ""
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, _("Filen är uppladdad och läses nu."))
                return redirect("visits:import_detail", pk=visit_import.pk)
    else:
        form = ImportUploadForm(centres=centres)
    page = Paginator(imports_visible(user), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "visits/imports/import_list.html",
        {
            "form": form,
            "imports": [(i, [c for c in _counts(i) if c[2]]) for i in page.object_list],
            "page": _page_urls(request, page.number, page.has_previous(), page.has_next()),
            "nav_import": True,
        },
    )


def _page_urls(
    request: HttpRequest, number: int, has_previous: bool, has_next: bool
) -> dict[str, str]:
    def url(to: int) -> str:
        query = request.GET.copy()
        query["page"] = str(to)
        return f"{request.path}?{query.urlencode()}"

    return {
        "previous_url": url(number - 1) if has_previous else "",
        "next_url": url(number + 1) if has_next else "",
    }


@login_required
def import_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """An import's state; with htmx (`HX-Request`) only the state region, which polls itself
    every second while the import is queued, read or saved and stops once it is not."""
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    visit_import = _import_for_user(user, pk)
    context = _detail_context(request, user, visit_import)
    if request.headers.get("HX-Request") == "true":
        return render(request, "visits/imports/state_partial.html", context)
    return render(request, "visits/imports/import_detail.html", context)


@login_required
@require_POST
def import_commit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Save the new rows (in Celery); a second commit, or one of an import not ready, is the
    service's Conflict, shown on the detail page."""
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    visit_import = _import_for_user(user, pk)
    try:
        import_request_commit(visit_import, user=user)
    except Conflict as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("De nya besöken sparas nu."))
    return redirect("visits:import_detail", pk=visit_import.pk)
