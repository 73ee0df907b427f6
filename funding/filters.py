"""One FilterSet per list, shared by the pages and the API."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from core.dates import MAX_YEAR, MIN_YEAR
from core.models import Centre
from funding.models import Application, ApplicationStatus


@extend_schema_field(OpenApiTypes.INT)
class YearFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", MIN_YEAR)
        kwargs.setdefault("max_value", MAX_YEAR)
        super().__init__(*args, **kwargs)


def _visible_centres(request: Any) -> QuerySet[Centre]:
    if request is None:
        return Centre.objects.none()
    return Centre.objects.for_user(request.user)


class ApplicationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label=_("Status"), choices=ApplicationStatus.choices)
    year = YearFilter(label=_("År"), field_name="year")
    centre = django_filters.ModelChoiceFilter(label=_("BVC"), queryset=_visible_centres)

    class Meta:
        model = Application
        fields = ["status", "year", "centre"]
