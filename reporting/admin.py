"""Admin for reports, scoped to the administrator's organisations. Runs and narratives are
read-only: a run changes only through the run machinery, a narrative only by adding a version,
and a submitted run is frozen in the database itself. The SIE export's accounts are edited
here: the organisation's own number and name for each ledger account."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyMixin, ScopedAdminMixin
from reporting.models import PER_REQUEST_KINDS, NarrativeVersion, ReportRun, SieAccount
from reporting.sie import DEFAULT_CHART


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

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReportRun]:
        # A patient's log extract is its organisation's log reviewers' alone
        # (reporting.permissions), not an administrator's.
        return super().get_queryset(request).exclude(kind__in=PER_REQUEST_KINDS)


@admin.register(NarrativeVersion)
class NarrativeVersionAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin[NarrativeVersion]):
    organisation_path = "organisation"
    list_display = ["kind", "organisation", "year", "grant", "centre", "section", "version"]
    list_filter = ["kind", "year", "section"]
    list_select_related = ["organisation", "grant", "centre", "written_by"]


@admin.register(SieAccount)
class SieAccountAdmin(ScopedAdminMixin, admin.ModelAdmin[SieAccount]):
    """An organisation maps the ledger accounts it wants elsewhere than the default chart; the
    ones it leaves out keep their default (shown in the list)."""

    organisation_path = "organisation"
    list_display = ["ledger_account", "number", "name", "default_account", "organisation"]
    list_filter = [("organisation", admin.RelatedOnlyFieldListFilter), "ledger_account"]
    list_select_related = ["organisation"]
    search_fields = ["number", "name"]
    fields = ["organisation", "ledger_account", "number", "name"]

    @admin.display(description=_("standardkonto"))
    def default_account(self, obj: SieAccount) -> str:
        account = DEFAULT_CHART.get(obj.ledger_account)
        return f"{account.number} {account.name}" if account else ""

    def save_model(
        self, request: HttpRequest, obj: SieAccount, form: ModelForm[SieAccount], change: bool
    ) -> None:
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
