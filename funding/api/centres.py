"""Centres with their child CNI and fixed compensation (API.md, "Centres and reference data").

Core decides which centres a caller sees; each answer adds the figures of the year from
`funding.selectors.centre_rows()`, the same figures the centre pages show (eligibility is
`selectors.Eligibility`, the rule submission applies), in a constant number of queries per page.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import views as core_views
from core.api.helpers import reject_empty, validated
from funding import selectors
from funding.api.serializers import CentreQuerySerializer, CentreSerializer


def _figures_year(request: Request) -> int:
    reject_empty(request, ["year"])
    query = validated(CentreQuerySerializer, request.query_params)
    return int(query.get("year") or timezone.localdate().year)


class CentreList(core_views.CentreList):
    """The caller's organisations' centres (core decides which) with their figures."""

    serializer_class = CentreSerializer  # type: ignore[assignment]

    @extend_schema(
        summary="Centres with their child CNI and fixed compensation for the year",
        parameters=[CentreQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        year = _figures_year(request)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None  # the project's cursor pagination is always on
        rows = selectors.centre_rows(page, year=year)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


class CentreDetail(core_views.CentreDetail):
    serializer_class = CentreSerializer  # type: ignore[assignment]

    @extend_schema(
        summary="A centre with its child CNI and fixed compensation for the year",
        parameters=[CentreQuerySerializer],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        centre = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        # The path first (404), then the query (400).
        if centre is None:
            raise Http404
        (row,) = selectors.centre_rows([centre], year=_figures_year(request))
        return Response(self.get_serializer(row).data)
