"""The log reviewer's pages (Patientdatalagen; DOMAIN.md 7): search the access log, draw random
samples and record findings, and produce a patient's log extract.

A child is searched by identity in a POST form body only, never in a URL; the other filters
are GET parameters. The rules are in `visits.log_review`, shared with the API. Reading the log
is not logged (it holds no child data beyond ids); an extract is, by the service.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from core.forms import DateInput
from core.models import Centre, Organisation, Role, User
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from visits import log_review
from visits.identity import IdentityType
from visits.models import AccessAction, AccessLog, AccessLogSample, FindingVerdict
from visits.views import Key, Page, keyset_page

LOG_KEYS = (
    Key("at", datetime.datetime.fromisoformat, descending=True),
    Key("id", int, descending=True),
)
SAMPLE_KEYS = (
    Key("created_at", datetime.datetime.fromisoformat, descending=True),
    Key("id", uuid.UUID, descending=True),
)
IDENTITY_CHOICES = [(t.value, t.label) for t in IdentityType]


def _reviewer(request: HttpRequest) -> User:
    user = _user(request)
    _require_role(user, Role.LOG_REVIEWER)
    return user


# --- Forms ------------------------------------------------------------------------------------
class _PeriodForm(forms.Form):
    date_from = forms.DateField(label=gettext_lazy("Från"), required=False, widget=DateInput())
    date_to = forms.DateField(label=gettext_lazy("Till"), required=False, widget=DateInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("Slutdagen ligger före startdagen."))
        return data


class LogFilterForm(_PeriodForm):
    user = forms.CharField(label=gettext_lazy("Användare"), required=False, max_length=150)
    centre = forms.ChoiceField(label=gettext_lazy("Vårdenhet"), required=False)
    action = forms.ChoiceField(
        label=gettext_lazy("Åtgärd"),
        required=False,
        choices=[("", gettext_lazy("Alla")), *AccessAction.choices],
    )
    field_order = ["user", "centre", "action", "date_from", "date_to"]

    def __init__(self, *args: Any, centres: list[Centre], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["centre"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Alla"))] + [(str(c.id), c.name) for c in centres]


class IdentityForm(forms.Form):
    identity_type = forms.ChoiceField(
        label=gettext_lazy("Typ av identitet"), choices=IDENTITY_CHOICES
    )
    identity = forms.CharField(
        label=gettext_lazy("Nummer"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ExtractForm(IdentityForm, _PeriodForm):
    """The extract's form; `organisation` only for a reviewer of several organisations (a
    PDF is one organisation's document: `visits.log_review.extract_organisations`)."""

    field_order = ["identity_type", "identity", "organisation", "date_from", "date_to"]

    def __init__(self, *args: Any, organisations: list[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if len(organisations) > 1:
            self.fields["organisation"] = forms.ChoiceField(
                label=_("Organisation"),
                required=False,
                choices=[("", _("Alla"))] + [(str(o.id), o.name) for o in organisations],
                help_text=_("Ett utdrag som PDF gäller en organisation."),
            )
            self.order_fields(self.field_order)


class SampleForm(_PeriodForm):
    date_from = forms.DateField(label=gettext_lazy("Från"), widget=DateInput())
    date_to = forms.DateField(label=gettext_lazy("Till"), widget=DateInput())
    size = forms.IntegerField(
        label=gettext_lazy("Antal rader"),
        min_value=1,
        max_value=log_review.SAMPLE_MAX_SIZE,
        initial=20,
    )


class FindingForm(forms.Form):
    row = forms.IntegerField(widget=forms.HiddenInput)
    verdict = forms.ChoiceField(
        label=gettext_lazy("Bedömning"),
        choices=FindingVerdict.choices,
        widget=forms.RadioSelect,
    )
    remark = forms.CharField(
        label=gettext_lazy("Kommentar"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Krävs när åtkomsten ifrågasätts."),
    )


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    names = {"to": "date_to", "from": "date_from"}
    for field, errors in exc.message_dict.items():
        name = names.get(field, field)
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


# --- The access log ---------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def log_list(request: HttpRequest) -> HttpResponse:
    """The access log, newest first, filtered by user, centre, action and period (GET) and by a
    child's identity (POST body: the identity never reaches a URL)."""
    user = _reviewer(request)
    centres = list(log_review.reviewer_centres(user))
    form = LogFilterForm(request.GET, centres=centres)
    identity_form = IdentityForm(request.POST if request.method == "POST" else None)
    page = Page(rows=[], next_url=None, previous_url=None)
    if form.is_valid() and (request.method == "GET" or identity_form.is_valid()):
        data = form.cleaned_data
        try:
            hashed = None
            if request.method == "POST":
                hashed = log_review.identity_search_hash(
                    user=user,
                    identity_type=identity_form.cleaned_data["identity_type"],
                    identity=identity_form.cleaned_data["identity"],
                )
            rows = log_review.access_log_search(
                user=user,
                query=log_review.LogQuery(
                    identity_hash=hashed,
                    user=data["user"] or None,
                    centre=uuid.UUID(data["centre"]) if data["centre"] else None,
                    action=data["action"] or None,
                    start=data["date_from"],
                    end=data["date_to"],
                ),
            )
        except ValidationError as exc:
            on_identity = {"identity", "identity_type"} & set(exc.message_dict)
            _form_errors(identity_form if on_identity else form, exc)
        else:
            page = keyset_page(request, rows, LOG_KEYS)
    names = {c.id: c.name for c in centres}
    return render(
        request,
        "visits/log_review/log_list.html",
        {
            "form": form,
            "identity_form": identity_form,
            "by_identity": request.method == "POST",
            "page": page,
            "rows": [(row, names.get(row.care_unit, "")) for row in page.rows],
            "filtered": any(request.GET.get(n) for n in form.fields),
            "query": request.GET.urlencode(),
        },
    )


# --- Samples ----------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def sample_list(request: HttpRequest) -> HttpResponse:
    user = _reviewer(request)
    form = SampleForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            sample = log_review.access_log_sample_create(
                user=user,
                start=form.cleaned_data["date_from"],
                end=form.cleaned_data["date_to"],
                size=form.cleaned_data["size"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Stickprovet är draget."))
            return redirect("visits:log_sample_detail", pk=sample.pk)
    samples = log_review.samples_for_reviewer(user).select_related("created_by")
    page = keyset_page(request, samples, SAMPLE_KEYS)
    return render(request, "visits/log_review/sample_list.html", {"form": form, "page": page})


def _sample_page(
    request: HttpRequest, sample: AccessLogSample, bound: FindingForm | None = None
) -> HttpResponse:
    user = _user(request)
    names = {c.id: c.name for c in log_review.reviewer_centres(user)}
    findings = log_review.sample_findings(sample)
    latest = log_review.latest_findings(findings)
    rows = []
    row: AccessLog
    for row in log_review.sample_rows(sample):
        if bound is not None and bound.data.get("row") == str(row.id):
            form = bound
        else:
            form = FindingForm(initial={"row": row.id}, auto_id=f"id_%s_{row.id}")
        rows.append(
            {
                "row": row,
                "centre": names.get(row.care_unit, "") if row.care_unit else "",
                "latest": latest.get(row.id),
                "history": [f for f in findings if f.row_id == row.id],
                "form": form,
            }
        )
    return render(
        request,
        "visits/log_review/sample_detail.html",
        {"sample": sample, "rows": rows, "reviewed": len(latest)},
        status=400 if bound is not None else 200,
    )


@login_required
@require_http_methods(["GET"])
def sample_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _reviewer(request)
    sample = get_object_or_404(
        log_review.samples_for_reviewer(user).select_related("created_by"), pk=pk
    )
    return _sample_page(request, sample)


@login_required
@require_POST
def finding_create(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _reviewer(request)
    sample = get_object_or_404(
        log_review.samples_for_reviewer(user).select_related("created_by"), pk=pk
    )
    row = request.POST.get("row", "")
    form = FindingForm(request.POST, auto_id=f"id_%s_{row}" if row.isdigit() else "id_%s")
    if form.is_valid():
        try:
            log_review.access_log_finding_create(
                user=user,
                sample=sample,
                row_id=form.cleaned_data["row"],
                verdict=form.cleaned_data["verdict"],
                remark=form.cleaned_data["remark"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Bedömningen är sparad."))
            return redirect("visits:log_sample_detail", pk=sample.pk)
    return _sample_page(request, sample, bound=form)


# --- The patient's log extract ----------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def log_extract(request: HttpRequest) -> HttpResponse:
    """The extract on the page, or ("Hämta som PDF", `format=pdf` in the body) a report run
    that renders it as a PDF: then on to the run's page, which follows its state and offers
    the download."""
    user = _reviewer(request)
    organisations = list(log_review.reviewer_organisations(user))
    form = ExtractForm(
        request.POST if request.method == "POST" else None, organisations=organisations
    )
    extract = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        organisation = data.get("organisation")
        arguments: dict[str, Any] = {
            "user": user,
            "identity_type": data["identity_type"],
            "identity": data["identity"],
            "start": data["date_from"],
            "end": data["date_to"],
            "organisation": uuid.UUID(organisation) if organisation else None,
        }
        try:
            if request.POST.get("format") == "pdf":
                run_id = log_review.log_extract_pdf_request(**arguments)
                messages.success(request, _("Loggutdraget skapas som PDF."))
                return redirect(log_review.log_extract_pdf_page(run_id))
            extract = log_review.log_extract(**arguments)
        except ValidationError as exc:
            _form_errors(form, exc)
    response = render(
        request,
        "visits/log_review/extract.html",
        {"form": form, "extract": extract},
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"
    return response
