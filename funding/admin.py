"""Admin for fixed compensation, scoped to the administrator's organisations.

CNI values and applications are read-only here: CNI comes in through the import (with its
preview), and an application changes only through its workflow, which records who, when and
why. The scheme is plain reference data and editable. Compensation rules are read-only here:
a rule is added on the rates page (funding/views/compensation.py) through the service that
recomputes the visits it prices and refuses a date in a paid month; a rule in force is never
edited.
"""

from __future__ import annotations

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from core.admin import ReadOnlyMixin, ScopedAdminMixin
from funding.models import (
    Application,
    ApplicationTransition,
    CniValue,
    CompensationRule,
    FixedCompensationScheme,
)


@admin.register(CniValue)
class CniValueAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin[CniValue]):
    organisation_path = "centre__organisation"
    list_display = [
        "centre",
        "kind",
        "value",
        "listed_children",
        "reference_date",
        "source",
        "created_at",
    ]
    list_filter = ["kind", "reference_date", "source"]
    search_fields = ["centre__name", "centre__hsa_id"]
    list_select_related = ["centre"]
    date_hierarchy = "reference_date"


@admin.register(FixedCompensationScheme)
class FixedCompensationSchemeAdmin(ScopedAdminMixin, admin.ModelAdmin[FixedCompensationScheme]):
    organisation_path = "organisation"
    list_display = ["organisation", "from_year", "threshold", "weighting", "updated_at"]
    list_filter = [("organisation", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organisation"]
    fields = ["organisation", "from_year", "threshold", "weighting"]

    def save_model(
        self,
        request: HttpRequest,
        obj: FixedCompensationScheme,
        form: ModelForm[FixedCompensationScheme],
        change: bool,
    ) -> None:
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class TransitionInline(
    ReadOnlyMixin, ScopedAdminMixin, admin.TabularInline[ApplicationTransition, Application]
):
    model = ApplicationTransition
    organisation_path = "application__centre__organisation"
    fields = ["at", "kind", "by", "comment"]
    readonly_fields = ["at", "kind", "by", "comment"]
    extra = 0
    can_delete = False


@admin.register(Application)
class ApplicationAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin[Application]):
    organisation_path = "centre__organisation"
    list_display = ["centre", "year", "status", "submitted_at", "decided_by", "effective_from"]
    list_filter = ["status", "year"]
    search_fields = ["centre__name"]
    list_select_related = ["centre", "decided_by"]
    inlines = [TransitionInline]


@admin.register(CompensationRule)
class CompensationRuleAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin[CompensationRule]):
    """Read-only; the list links to the rates page, where CBHV and administrators add a rule."""

    organisation_path = "organisation"
    change_list_template = "funding/rates_admin_change_list.html"
    list_display = [
        "organisation",
        "valid_from",
        "programme_variable",
        "ordinary",
        "created_by",
        "created_at",
    ]
    # Only the organisations whose rules she sees (a plain filter would list every one).
    list_filter = [("organisation", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organisation", "created_by"]
    date_hierarchy = "valid_from"
