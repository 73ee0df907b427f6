"""One FilterSet per list, shared by the pages and the API."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from core.models import Centre
from visits.models import Enrolment, Visit, VisitStatus
from visits.selectors import ScheduleStatus, child_centres


def _my_centres(request: Any) -> QuerySet[Centre]:
    if request is None:
        return Centre.objects.none()
    return child_centres(request.user)


class WorklistFilter(django_filters.FilterSet):
    centre = django_filters.ModelChoiceFilter(
        label=_("BVC"), queryset=_my_centres, field_name="centre"
    )
    status = django_filters.ChoiceFilter(
        label=_("Status"),
        choices=[
            (ScheduleStatus.DUE.value, _("Aktuella")),
            (ScheduleStatus.OVERDUE.value, _("Försenade")),
        ],
        method="filter_status",
    )
    slot = django_filters.CharFilter(label=_("Besökstillfälle"), method="filter_slot")

    class Meta:
        model = Enrolment
        fields = ["centre", "status", "slot"]

    def filter_status(self, qs: QuerySet[Enrolment], name: str, value: str) -> QuerySet[Enrolment]:
        # `status` and `slot_key` are annotations of visits.selectors.worklist().
        return qs.filter(status=value) if value else qs  # type: ignore[misc]

    def filter_slot(self, qs: QuerySet[Enrolment], name: str, value: str) -> QuerySet[Enrolment]:
        return qs.filter(slot_key=value) if value else qs  # type: ignore[misc]


class VisitFilter(django_filters.FilterSet):
    centre = django_filters.ModelChoiceFilter(label=_("BVC"), queryset=_my_centres)
    date_from = django_filters.DateFilter(label=_("Från"), field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(label=_("Till"), field_name="date", lookup_expr="lte")
    kva_code = django_filters.CharFilter(label=_("KVÅ-kod"), method="filter_kva_code")
    status = django_filters.ChoiceFilter(label=_("Status"), choices=VisitStatus.choices)

    class Meta:
        model = Visit
        fields = ["centre", "date_from", "date_to", "kva_code", "status"]

    def filter_kva_code(self, qs: QuerySet[Visit], name: str, value: str) -> QuerySet[Visit]:
        return qs.filter(kva_codes__contains=[value.strip().upper()]) if value else qs
