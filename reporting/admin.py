"""Admin for reports, scoped to the administrator's organisations and read-only: a run changes
only through the run machinery, a narrative only by adding a version, and a submitted run is
frozen in the database itself."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ScopedAdminMixin
from funding.admin import ReadOnlyMixin
from reporting.models import NarrativeVersion, ReportRun


@admin.register(ReportRun)
class ReportRunAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin[ReportRun]):
    organisation_path = "organisation"
    list_display = [
        "kind",
        "organisation",
        "year",
        "grant",
        "centre",
        "status",
        "attempts",
        "created_at",
        "finished_at",
        "submitted_at",
    ]
    list_filter = ["kind", "status", "year"]
    list_select_related = ["organisation", "grant", "centre"]
    date_hierarchy = "created_at"
    exclude = ["narrative_versions"]


@admin.register(NarrativeVersion)
class NarrativeVersionAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin[NarrativeVersion]):
    organisation_path = "organisation"
    list_display = ["kind", "organisation", "year", "grant", "centre", "section", "version"]
    list_filter = ["kind", "year", "section"]
    list_select_related = ["organisation", "grant", "centre", "written_by"]
