"""The deadline overview: the page for CBHV and finance, and `GET /api/v1/deadlines/` (API.md
"Reports"). Both show `reporting.deadlines.deadlines_for()`; other roles get 403.

Deadlines are computed, not rows, so the API pages the sorted list with a real cursor over its
unique order (due date, subject, key) rather than an offset: the same links and `page_size` as
every other collection, and a page stays put when an earlier deadline is added.
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections import Counter
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param
from rest_framework.views import APIView

from core.api.helpers import reject_empty, validated
from core.api.pagination import CursorPagination
from core.models import User
from core.permissions import request_user, require_role
from core.scoping import scope_of
from reporting.deadlines import (
    DEADLINE_ROLES,
    Deadline,
    DeadlineKind,
    DeadlineStatus,
    deadlines_for,
)

# The page of one report run, built with the run pages (issue 18, item 10).
REPORT_RUN_URL_NAME = "reporting:run"


def _filtered(deadlines: list[Deadline], query: dict[str, Any]) -> list[Deadline]:
    return [
        d
        for d in deadlines
        if d.status == query.get("status", d.status)
        and d.kind == query.get("kind", d.kind)
        and d.organisation == query.get("organisation", d.organisation)
    ]


# --- Page -------------------------------------------------------------------------------------
def _run_url(run_id: uuid.UUID | None) -> str:
    if run_id is None:
        return ""
    try:
        return reverse(REPORT_RUN_URL_NAME, args=[run_id])
    except NoReverseMatch:
        return ""


@login_required
@require_safe
def deadline_overview(request: HttpRequest) -> HttpResponse:
    """Every report due in the user's organisations, by due date, overdue ones said in words."""
    user = request_user(request)
    require_role(user, *DEADLINE_ROLES)
    today = timezone.localdate()
    deadlines = deadlines_for(user, today)
    counts = Counter(d.status for d in deadlines)
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    query = {
        **({"status": status} if status in DeadlineStatus.values else {}),
        **({"kind": kind} if kind in DeadlineKind.values else {}),
    }
    labels = dict(DeadlineStatus.choices)
    rows = [
        {
            "deadline": d,
            # A use-by date is settled by closing the grant, not by a report.
            "status_label": (
                _("Bidraget stängt")
                if d.is_submitted and d.kind == DeadlineKind.USE_BY
                else labels[d.status]
            ),
            "days_left": d.days_left(today),
            "days_overdue": -d.days_left(today),
            "report_url": _run_url(d.report),
        }
        for d in _filtered(deadlines, query)
    ]
    return render(
        request,
        "reporting/deadlines.html",
        {
            "rows": rows,
            "today": today,
            "overdue_count": counts[DeadlineStatus.OVERDUE],
            "open_count": counts[DeadlineStatus.OPEN],
            "status": query.get("status", ""),
            "kind": query.get("kind", ""),
            "statuses": DeadlineStatus.choices,
            "kinds": DeadlineKind.choices,
            "filtered": bool(query),
        },
    )


# --- API --------------------------------------------------------------------------------------
class DeadlineSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="Stable id of the deadline (kind and subject ids).")
    kind = serializers.ChoiceField(choices=DeadlineKind.values)
    title = serializers.CharField(help_text="What is due, in Swedish.")
    subject = serializers.CharField()
    organisation = serializers.UUIDField()
    due = serializers.DateField()
    status = serializers.ChoiceField(choices=DeadlineStatus.values)
    report = serializers.UUIDField(
        allow_null=True, help_text="The submitted report run that answers it."
    )


class DeadlineQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=DeadlineStatus.values, required=False)
    kind = serializers.ChoiceField(choices=DeadlineKind.values, required=False)
    organisation = serializers.UUIDField(required=False)


class SeesDeadlines(BasePermission):
    message = "Bara CBHV och ekonomi ser vad som ska rapporteras."

    def has_permission(self, request: Request, view: Any) -> bool:
        return scope_of(request.user).has_role(*DEADLINE_ROLES)


class ListCursorPagination(CursorPagination):
    """Core's cursor pagination over an already sorted Python list: the cursor's position is
    the sort key of the last (or, going back, the first) item shown. Links, `page_size` and
    the answer to a forged cursor (404) are core's."""

    def paginate_list(self, items: list[Deadline], request: Request) -> list[Deadline]:
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        cursor = self.decode_cursor(request)
        keys = [list(item.sort_key) for item in items]
        if cursor is None:
            start, end = 0, self.page_size
        else:
            try:
                position = json.loads(cursor.position)
            except (TypeError, ValueError):
                raise NotFound(self.invalid_cursor_message) from None
            if not (
                isinstance(position, list)
                and len(position) == 3
                and all(isinstance(p, str) for p in position)
            ):
                raise NotFound(self.invalid_cursor_message)
            if cursor.reverse:
                end = bisect.bisect_left(keys, position)
                start = max(0, end - self.page_size)
            else:
                start = bisect.bisect_right(keys, position)
                end = start + self.page_size
        end = min(end, len(items))
        page = items[start:end]
        self._next: str | None = None
        if end < len(items):
            # After an empty page going back (rows went away), "next" is the first page.
            self._next = (
                self._link(keys[end - 1], reverse=False)
                if end > 0
                else remove_query_param(self.base_url, self.cursor_query_param)
            )
        self._previous: str | None = self._link(keys[start], reverse=True) if start > 0 else None
        return page

    def _link(self, key: list[str], *, reverse: bool) -> str:
        # DRF's stubs type a position as an int; DRF itself takes any string.
        position: Any = json.dumps(key)
        return cast(str, self.encode_cursor(Cursor(offset=0, reverse=reverse, position=position)))

    def get_next_link(self) -> str | None:
        return self._next

    def get_previous_link(self) -> str | None:
        return self._previous


class DeadlineList(APIView):
    permission_classes = [IsAuthenticated, SeesDeadlines]
    pagination_class = ListCursorPagination

    @extend_schema(
        summary="Every report due in the caller's organisations (CBHV, finance): grant reports, "
        "centre accounts and use-by dates, by due date, with their state",
        parameters=[DeadlineQuerySerializer],
        responses=DeadlineSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        reject_empty(request, DeadlineQuerySerializer().fields)
        query = validated(DeadlineQuerySerializer, request.query_params)
        deadlines = _filtered(deadlines_for(cast(User, request.user)), query)
        paginator = ListCursorPagination()
        page = paginator.paginate_list(deadlines, request)
        return paginator.get_paginated_response(DeadlineSerializer(page, many=True).data)
