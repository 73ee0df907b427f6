"""The nurse's pages: the worklist on the start page, children, enrolments and visits.

Each view checks the role (403), finds the object within the user's scope (404), parses the
form, calls one service and redirects with a message, or renders. A child's data is read only
through `visits.selectors`, which scope it and log one read per child shown (Patientdatalagen;
DOMAIN.md 7); the services log their own creates and updates. Lists are keyset-paginated in the
database, so a page costs the same number of queries at 1 row and at 50.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.exceptions import Conflict
from core.forms import DateInput
from core.models import Role, User
from core.permissions import request_user as _user
from core.permissions import require_role as _require_role
from visits.extension import describe_visit
from visits.filters import VisitFilter, WorklistFilter
from visits.forms import (
    ChildEditForm,
    ChildRegisterForm,
    Choices,
    EnrolmentCreateForm,
    EnrolmentEditForm,
    EnrolmentEndForm,
    VisitForm,
    slot_choices,
    visit_changes,
)
from visits.identity import IdentityType
from visits.models import (
    CHILD_ROLES,
    ZV509,
    Child,
    Contact,
    Eligibility,
    EndReason,
    Enrolment,
    KvaCode,
    Participant,
    ProgrammeTemplate,
    Visit,
    VisitPlace,
    VisitStatus,
)
from visits.selectors import (
    ScheduleEntry,
    ScheduleStatus,
    child_centres,
    child_enrolments,
    child_for_change,
    child_for_read,
    child_has_open_enrolment,
    child_in_scope,
    child_visible,
    children_for_list,
    enrolment_for_change,
    enrolment_for_read,
    enrolment_schedule,
    has_role_at,
    is_nurse_at,
    move_destinations,
    nurse_centre_ids,
    read_page,
    record_read,
    templates_for_child,
    visit_for_change,
    visit_for_read,
    visits_for_list,
    worklist,
    works_at_several_centres,
)
from visits.services import (
    VisitInput,
    child_register,
    child_update,
    enrolment_create,
    enrolment_end,
    enrolment_update,
    visit_log,
    visit_update,
)

PAGE_SIZE = 50
GET_POST = require_http_methods(["GET", "POST"])


# --- Helpers ----------------------------------------------------------------------------------
def _require_role_at(user: User, role: str, centre_id: uuid.UUID) -> None:
    """403 where the user is in scope through another role (a nurse here, a manager there)."""
    if not has_role_at(user=user, role=role, centre_id=centre_id):
        raise PermissionDenied


def _full_identity(child: Child) -> str:
    if child.identity_type == IdentityType.RESERVNUMMER:
        return child.identity
    return f"{child.identity[:8]}-{child.identity[8:]}"


@dataclass(frozen=True)
class ChildView:
    """What of a child this user may see (API.md: the full identity only for nurses of its
    current centre; a protected identity's names only for them)."""

    child: Child
    identity: str
    names: str
    birth_date: datetime.date | None
    visible: bool  # the child's page is in the user's scope

    @classmethod
    def of(cls, child: Child, user: User) -> ChildView:
        centre_nurse = is_nurse_at(user=user, centre_id=child.current_centre_id)
        open_details = centre_nurse or not child.protected
        names = f"{child.given_name} {child.family_name}".strip() if open_details else ""
        return cls(
            child=child,
            identity=_full_identity(child) if centre_nurse else child.masked,
            names=names,
            birth_date=child.birth_date if open_details else None,
            visible=child_visible(user=user, child=child),
        )


def _redirect_with(request: HttpRequest, message: str, to: str, **kwargs: Any) -> HttpResponse:
    messages.success(request, message)
    response: HttpResponse = redirect(to, **kwargs)
    return response


# --- Keyset pagination ------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """One column of a keyset order. `parse` turns the cursor's text back into a value."""

    name: str
    parse: Callable[[str], Any]
    descending: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_url: str | None
    previous_url: str | None


def _encode_cursor(backwards: bool, values: Sequence[Any]) -> str:
    raw = json.dumps(["p" if backwards else "n", *(str(v) for v in values)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(token: str, keys: Sequence[Key]) -> tuple[bool, list[Any]] | None:
    """The cursor's direction and values; None for anything not made by `_encode_cursor`."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        direction, *raw = data
        if direction not in ("n", "p") or len(raw) != len(keys):
            return None
        return direction == "p", [key.parse(value) for key, value in zip(keys, raw, strict=True)]
    except (ValueError, TypeError, binascii.Error):
        return None


def _beyond(keys: Sequence[Key], values: Sequence[Any], backwards: bool) -> Q:
    """Rows after (or, backwards, before) `values` in the order of `keys`."""
    condition = Q()
    for i, key in enumerate(keys):
        op = "gt" if key.descending == backwards else "lt"
        step = Q(**{k.name: v for k, v in zip(keys[:i], values[:i], strict=True)})
        condition |= step & Q(**{f"{key.name}__{op}": values[i]})
    return condition


def keyset_page(request: HttpRequest, qs: QuerySet[Any], keys: Sequence[Key]) -> Page:
    """One page of `qs` in the order of `keys` (which must make rows unique): one query with a
    LIMIT, the position carried in an opaque `?cursor=` ("Nästa"/"Föregående")."""
    size = PAGE_SIZE
    cursor = _decode_cursor(request.GET.get("cursor", ""), keys)
    backwards = cursor is not None and cursor[0]
    if cursor is not None:
        qs = qs.filter(_beyond(keys, cursor[1], backwards))
    ordering = [("-" if key.descending != backwards else "") + key.name for key in keys]
    rows = list(qs.order_by(*ordering)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_previous = more if backwards else cursor is not None

    def url(row: Any, to_previous: bool) -> str:
        query = request.GET.copy()
        query["cursor"] = _encode_cursor(to_previous, [getattr(row, k.name) for k in keys])
        return f"{request.path}?{query.urlencode()}"

    return Page(
        rows=rows,
        next_url=url(rows[-1], False) if rows and has_next else None,
        previous_url=url(rows[0], True) if rows and has_previous else None,
    )


def _parse_date(value: str) -> datetime.date:
    return datetime.date.fromisoformat(value)


WORKLIST_KEYS = (
    Key("due_from", _parse_date),
    Key("due_to", _parse_date),
    Key("id", uuid.UUID),
    Key("slot_target", int),
    Key("slot_key", str),
)
VISIT_KEYS = (Key("date", _parse_date, descending=True), Key("id", uuid.UUID, descending=True))
CHILD_KEYS = (
    Key("birth_date", _parse_date, descending=True),
    Key("id", uuid.UUID, descending=True),
)


# --- Worklist (a section of the start page) ---------------------------------------------------
def _relabel_empty_choice(
    field: forms.Field, label: str, choices: Sequence[tuple[str, Any]]
) -> None:
    """Name a django-filter ChoiceFilter's empty choice ("---------" by default). The choices
    are set again so that the widget's copy follows this form's field, not the class's."""
    assert isinstance(field, forms.ChoiceField)
    field.empty_label = label  # type: ignore[attr-defined]
    field.choices = choices


def _template_slot_choices(user: User) -> Choices:
    templates = ProgrammeTemplate.objects.for_user(user).current().prefetch_related("slots")
    return slot_choices(templates)


def worklist_section(request: HttpRequest) -> dict[str, Any] | None:
    """The start page's worklist for nurses and centre managers: slots due and overdue at
    their centres, oldest first (`visits.selectors.worklist`, one query per page)."""
    user = _user(request)
    scope = user.scope
    if not scope.has_role(*CHILD_ROLES):
        return None
    today = timezone.localdate()
    filterset = WorklistFilter(request.GET, queryset=worklist(user, today=today), request=request)
    form = filterset.form
    form.fields["slot"].widget = forms.Select(
        choices=[("", _("Alla besökstillfällen")), *_template_slot_choices(user)]
    )
    _relabel_empty_choice(
        form.fields["status"],
        _("Aktuella och försenade"),
        [(ScheduleStatus.DUE.value, _("Aktuella")), (ScheduleStatus.OVERDUE.value, _("Försenade"))],
    )
    centre_field = form.fields["centre"]
    assert isinstance(centre_field, forms.ModelChoiceField)
    centre_field.empty_label = _("Alla mina BVC")
    several_centres = works_at_several_centres(user)
    if not several_centres:
        del form.fields["centre"]

    if form.is_valid():
        page = read_page(
            user=user,
            rows=filterset.qs,
            what="worklist",
            paginate=lambda rows: keyset_page(request, rows, WORKLIST_KEYS),
        )
    else:
        page = Page(rows=[], next_url=None, previous_url=None)
    return {
        "form": form,
        "page": page,
        "today": today,
        "nurse_centres": nurse_centre_ids(user),
        "several_centres": several_centres,
        "filtered": any(request.GET.get(name) for name in ("centre", "status", "slot")),
    }


# --- Children ---------------------------------------------------------------------------------
@login_required
def child_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    page = read_page(
        user=user,
        rows=children_for_list(user=user),
        what="child_list",
        paginate=lambda rows: keyset_page(request, rows, CHILD_KEYS),
    )
    return render(
        request,
        "visits/child_list.html",
        {
            "page": page,
            "children": page.rows,
            "several_centres": works_at_several_centres(user),
        },
    )


@login_required
@GET_POST
def child_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    centres = child_centres(user)
    data = request.POST if request.method == "POST" else None
    form = ChildRegisterForm(data, centres=centres)
    existing_url = None
    if form.is_valid():
        centre = form.cleaned_data.get("centre") or centres.first()
        assert centre is not None
        try:
            child = child_register(
                user=user,
                centre=centre,
                identity_type=form.cleaned_data["identity_type"],
                identity=form.cleaned_data["identity"],
                birth_date=form.cleaned_data["birth_date"],
                given_name=form.cleaned_data["given_name"],
                family_name=form.cleaned_data["family_name"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
            # The nurse typed the number herself: the link reveals nothing new, and only if
            # the child is already hers (API.md, POST /children/ → 409).
            existing = exc.extra.get("id")
            if existing and child_in_scope(user=user, pk=existing) is not None:
                existing_url = reverse("visits:child_detail", args=[existing])
        else:
            return _redirect_with(
                request, _("Barnet är registrerat."), "visits:child_detail", pk=child.pk
            )
    return render(request, "visits/child_form.html", {"form": form, "existing_url": existing_url})


@login_required
def child_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    child = child_for_read(user=user, pk=pk, what="child")
    return render(
        request,
        "visits/child_detail.html",
        {
            "view": ChildView.of(child, user),
            "child": child,
            "enrolments": child_enrolments(user=user, child=child),
            "can_enrol": not child_has_open_enrolment(child),
            "can_edit": is_nurse_at(user=user, centre_id=child.current_centre_id),
        },
    )


@login_required
@GET_POST
def child_edit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Names and protected identity: the nurses of the child's current centre (API.md)."""
    user = _user(request)
    _require_role(user, Role.NURSE)
    child = child_for_change(user=user, pk=pk)
    _require_role_at(user, Role.NURSE, child.current_centre_id)
    initial = {
        "given_name": child.given_name,
        "family_name": child.family_name,
        "protected": child.protected,
    }
    data = request.POST if request.method == "POST" else None
    form = ChildEditForm(data, initial=initial)
    if form.is_valid():
        try:
            child_update(user=user, child=child, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _redirect_with(
                request, _("Barnets uppgifter är sparade."), "visits:child_detail", pk=child.pk
            )
    record_read(user=user, rows=[child], what="child")
    return render(
        request,
        "visits/child_edit.html",
        {"form": form, "child": child, "view": ChildView.of(child, user)},
    )


# --- Enrolments -------------------------------------------------------------------------------
@login_required
@GET_POST
def enrolment_create_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    child = child_for_change(user=user, pk=pk)
    templates = templates_for_child(user=user, child=child)
    today = timezone.localdate()
    data = request.POST if request.method == "POST" else None
    form = EnrolmentCreateForm(
        data, templates=templates, initial={"offered_on": today, "template": templates.first()}
    )
    if form.is_valid():
        try:
            enrolment = enrolment_create(
                user=user,
                child=child,
                centre=child.current_centre,
                template=form.cleaned_data["template"],
                offered_on=form.cleaned_data["offered_on"],
                accepted_on=form.cleaned_data["accepted_on"],
                eligibility=form.cleaned_data["eligibility"],
                **form.plan(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
        else:
            return _redirect_with(
                request,
                _("Barnet är inskrivet i programmet."),
                "visits:enrolment_detail",
                pk=enrolment.pk,
            )
    record_read(user=user, rows=[child], what="enrolment")
    return render(
        request,
        "visits/enrolment_form.html",
        {"form": form, "child": child, "view": ChildView.of(child, user), "creating": True},
    )


def _enrolment_state(enrolment: Enrolment) -> str:
    if enrolment.ended_on is not None:
        return _("Avslutad")
    if enrolment.declined_on is not None:
        return _("Tackat nej")
    if enrolment.accepted_on is not None:
        return _("Pågår")
    return _("Erbjuden, inget svar")


@login_required
def enrolment_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    enrolment = enrolment_for_read(user=user, pk=pk, what="enrolment")
    today = timezone.localdate()
    schedule = enrolment_schedule(enrolment, today=today)
    labels = {slot.key: slot.label for slot in enrolment.template.slots.all()}
    visits = sorted(enrolment.visits.all(), key=lambda v: (v.date, v.created_at), reverse=True)
    is_nurse = is_nurse_at(user=user, centre_id=enrolment.centre_id)
    return render(
        request,
        "visits/enrolment_detail.html",
        {
            "enrolment": enrolment,
            "view": ChildView.of(enrolment.child, user),
            "state": _enrolment_state(enrolment),
            "schedule": schedule,
            "eligibility": [Eligibility(e).label for e in enrolment.eligibility],
            "visits": [(v, labels.get(v.slot, "")) for v in visits],
            "can_log_visits": is_nurse and enrolment.declined_on is None,
            "can_change": enrolment.ended_on is None,
        },
    )


@login_required
@GET_POST
def enrolment_edit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    enrolment = enrolment_for_change(user=user, pk=pk)
    initial = {
        name: getattr(enrolment, name)
        for name in (
            "accepted_on",
            "declined_on",
            "programme",
            "planned_slots",
            "language",
            "interpreter_needed",
        )
    }
    data = request.POST if request.method == "POST" else None
    form = EnrolmentEditForm(data, initial=initial, slots=slot_choices([enrolment.template]))
    if form.is_valid():
        try:
            enrolment_update(
                user=user,
                enrolment=enrolment,
                accepted_on=form.cleaned_data["accepted_on"],
                declined_on=form.cleaned_data["declined_on"],
                **form.plan(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
        else:
            return _redirect_with(
                request,
                _("Inskrivningen är sparad."),
                "visits:enrolment_detail",
                pk=enrolment.pk,
            )
    record_read(user=user, rows=[enrolment], what="enrolment")
    return render(
        request,
        "visits/enrolment_form.html",
        {
            "form": form,
            "enrolment": enrolment,
            "child": enrolment.child,
            "view": ChildView.of(enrolment.child, user),
            "creating": False,
        },
    )


@login_required
@GET_POST
def enrolment_end_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    enrolment = enrolment_for_change(user=user, pk=pk)
    centres = move_destinations(enrolment=enrolment)
    data = request.POST if request.method == "POST" else None
    form = EnrolmentEndForm(data, centres=centres, initial={"ended_on": timezone.localdate()})
    if form.is_valid():
        try:
            enrolment_end(user=user, enrolment=enrolment, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
        else:
            if form.cleaned_data["reason"] == EndReason.MOVED:
                message = (
                    _("Inskrivningen är avslutad och barnet har flyttats till %s.")
                    % (form.cleaned_data["moved_to"])
                )
            else:
                message = _("Inskrivningen är avslutad.")
            return _redirect_with(request, message, "visits:enrolment_detail", pk=enrolment.pk)
    record_read(user=user, rows=[enrolment], what="enrolment")
    return render(
        request,
        "visits/enrolment_end.html",
        {"form": form, "enrolment": enrolment, "view": ChildView.of(enrolment.child, user)},
    )


# --- Visits -----------------------------------------------------------------------------------
def _kva_choices(day: datetime.date, keep: Iterable[str] = ()) -> Choices:
    """Codes valid on `day`, and those a visit already carries (so an edit can keep them)."""
    valid = Q(valid_from__lte=day) & (Q(valid_to__isnull=True) | Q(valid_to__gte=day))
    rows = KvaCode.objects.filter(valid | Q(code__in=list(keep))).order_by("code", "-valid_from")
    choices: dict[str, str] = {}
    for code in rows:
        choices.setdefault(code.code, f"{code.code} – {code.title}")
    return list(choices.items())


def _visit_slot_choices(schedule: Sequence[ScheduleEntry]) -> Choices:
    """The enrolment's planned slots, each with its window and, when done, a word on it."""
    choices = []
    for entry in schedule:
        label = f"{entry.slot.label} ({entry.due_from:%Y-%m-%d} – {entry.due_to:%Y-%m-%d})"
        if entry.status == ScheduleStatus.DONE:
            label += " – " + _("redan genomfört")
        choices.append((entry.slot.key, label))
    return choices


def _visit_form_page(
    request: HttpRequest,
    *,
    user: User,
    enrolment: Enrolment,
    form: VisitForm,
    visit: Visit | None,
    show_adjustment: bool,
) -> HttpResponse:
    record_read(user=user, rows=[enrolment], what="visit")
    return render(
        request,
        "visits/visit_form.html",
        {
            "form": form,
            "enrolment": enrolment,
            "visit": visit,
            "view": ChildView.of(enrolment.child, user),
            "show_adjustment": show_adjustment or bool(form["adjustment"].value()),
        },
    )


def _saved_message(visit: Visit, data: VisitInput, created: bool) -> str:
    message = _("Besöket är registrerat.") if created else _("Besöket är ändrat.")
    if ZV509 in visit.kva_codes and ZV509 not in data.kva_codes:
        message += " " + _(
            "KVÅ-koden ZV509 lades till eftersom socialtjänsten deltog i hembesöket."
        )
    return message


@login_required
@GET_POST
def visit_create(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The visit form for an enrolment; `?slot=2m` chooses the slot (the worklist's link)."""
    user = _user(request)
    _require_role(user, Role.NURSE)
    enrolment = enrolment_for_change(user=user, pk=pk)
    _require_role_at(user, Role.NURSE, enrolment.centre_id)
    today = timezone.localdate()
    schedule = enrolment_schedule(enrolment, today=today)
    slots = {entry.slot.key: entry.slot for entry in schedule}
    chosen = slots.get(request.GET.get("slot", ""))
    initial = {
        "date": today,
        "slot": chosen.key if chosen else "",
        "place": chosen.place if chosen else VisitPlace.HOME,
        "status": VisitStatus.COMPLETED,
    }
    data = request.POST if request.method == "POST" else None
    form = VisitForm(
        data, initial=initial, slots=_visit_slot_choices(schedule), kva_codes=_kva_choices(today)
    )
    show_adjustment = False
    if form.is_valid():
        visit_input = form.to_input()
        try:
            visit = visit_log(
                user=user,
                enrolment=enrolment,
                data=visit_input,
                adjustment=form.cleaned_data["adjustment"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
            show_adjustment = True
        else:
            message = _saved_message(visit, visit_input, created=True)
            return _redirect_with(request, message, "visits:visit_detail", pk=visit.pk)
    return _visit_form_page(
        request,
        user=user,
        enrolment=enrolment,
        form=form,
        visit=None,
        show_adjustment=show_adjustment,
    )


@login_required
@GET_POST
def visit_edit(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, Role.NURSE)
    visit = visit_for_change(user=user, pk=pk)
    _require_role_at(user, Role.NURSE, visit.centre_id)
    enrolment = enrolment_for_change(user=user, pk=visit.enrolment_id)
    today = timezone.localdate()
    schedule = enrolment_schedule(enrolment, today=today)
    current = VisitInput.from_visit(visit)
    slots = _visit_slot_choices(schedule)
    if visit.slot and visit.slot not in {key for key, _label in slots}:
        slots.append((visit.slot, visit.slot))  # a slot since dropped from a partial plan
    data = request.POST if request.method == "POST" else None
    form = VisitForm(
        data,
        initial=current.__dict__,
        slots=slots,
        kva_codes=_kva_choices(today, keep=visit.kva_codes),
    )
    show_adjustment = True
    if form.is_valid():
        new = form.to_input()
        changes = visit_changes(current, new)
        if not changes:
            return _redirect_with(
                request, _("Inga ändringar att spara."), "visits:visit_detail", pk=visit.pk
            )
        try:
            visit_update(
                user=user,
                visit=visit,
                changes=changes,
                adjustment=form.cleaned_data["adjustment"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.detail)
        else:
            message = _saved_message(visit, new, created=False)
            return _redirect_with(request, message, "visits:visit_detail", pk=visit.pk)
    return _visit_form_page(
        request,
        user=user,
        enrolment=enrolment,
        form=form,
        visit=visit,
        show_adjustment=show_adjustment,
    )


@login_required
def visit_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    visit = visit_for_read(user=user, pk=pk, what="visit")
    enrolment = visit.enrolment
    slot = enrolment.template.slots.filter(key=visit.slot).first() if visit.slot else None
    titles = dict(
        KvaCode.objects.filter(code__in=visit.kva_codes)
        .order_by("code", "-valid_from")
        .values_list("code", "title")
    )
    slot_due_to: datetime.date | None = getattr(visit, "slot_due_to", None)
    return render(
        request,
        "visits/visit_detail.html",
        {
            "visit": visit,
            "enrolment": enrolment,
            "view": ChildView.of(enrolment.child, user),
            "slot": slot,
            "late": slot_due_to is not None and visit.date > slot_due_to,
            "codes": [(code, titles.get(code, "")) for code in visit.kva_codes],
            "participants": [Participant(p).label for p in visit.participants],
            "contacts": [Contact(c).label for c in visit.contacts_started],
            "can_edit": is_nurse_at(user=user, centre_id=visit.centre_id),
            # What the visit earns, when the money rules are installed (funding).
            "compensation": describe_visit(visit, "compensation_page"),
        },
    )


@login_required
def visit_list(request: HttpRequest) -> HttpResponse:
    """The centre's visits, newest first (index `(centre, -date, -id)`), VisitFilter's filters."""
    user = _user(request)
    _require_role(user, *CHILD_ROLES)
    filterset = VisitFilter(request.GET, queryset=visits_for_list(user=user), request=request)
    form = filterset.form
    for name in ("date_from", "date_to"):
        form.fields[name].widget = DateInput()
    centre_field = form.fields["centre"]
    assert isinstance(centre_field, forms.ModelChoiceField)
    centre_field.empty_label = _("Alla mina BVC")
    _relabel_empty_choice(form.fields["status"], _("Alla"), VisitStatus.choices)
    several_centres = works_at_several_centres(user)
    if not several_centres:
        del form.fields["centre"]
    if form.is_valid():
        page = read_page(
            user=user,
            rows=filterset.qs,
            what="visit_list",
            paginate=lambda rows: keyset_page(request, rows, VISIT_KEYS),
        )
    else:
        page = Page(rows=[], next_url=None, previous_url=None)
    rows = [
        (v, v.slot_due_to is not None and v.date > v.slot_due_to)  # (visit, late)
        for v in page.rows
    ]
    return render(
        request,
        "visits/visit_list.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "several_centres": several_centres,
            "filtered": any(
                request.GET.get(n) for n in ("centre", "date_from", "date_to", "kva_code", "status")
            ),
        },
    )
