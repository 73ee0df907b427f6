"""Admin for the visits app's reference data: KVÅ codes, programme templates and the column
mapping of the journal import.

Children, enrolments, visits and the access log are deliberately not here: administrators never
see child data (DOMAIN.md 2), and the access log is read by the log reviewer through the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.admin import ScopedAdminMixin
from core.exceptions import Conflict
from core.models import Role
from visits.imports.reader import CONTRACT_COLUMNS
from visits.models import ColumnMapping, KvaCode, ProgrammeTemplate, TemplateSlot
from visits.services import template_new_version


@admin.register(KvaCode)
class KvaCodeAdmin(admin.ModelAdmin[KvaCode]):
    """KVÅ is a national classification: shared by all organisations, kept by administrators."""

    list_display = ["code", "title", "valid_from", "valid_to"]
    search_fields = ["code", "title"]
    list_filter = ["valid_to"]

    def _is_admin(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and (user.is_superuser or user.scope.has_role(Role.ADMIN)))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._is_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # A code that visits may carry is ended (valid_to), never deleted.
        return False


class TemplateSlotInline(admin.TabularInline[TemplateSlot, ProgrammeTemplate]):
    model = TemplateSlot
    extra = 0
    fields = [
        "key",
        "label",
        "kind",
        "place",
        "target_age_days",
        "earliest_age_days",
        "latest_age_days",
    ]

    def _editable(self, obj: ProgrammeTemplate | None) -> bool:
        return obj is None or (obj.superseded_by_id is None and not obj.enrolments.exists())

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


@admin.register(ProgrammeTemplate)
class ProgrammeTemplateAdmin(ScopedAdminMixin, admin.ModelAdmin[ProgrammeTemplate]):
    list_display = ["name", "version", "organisation", "is_current"]
    list_filter = [("organisation", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    inlines = [TemplateSlotInline]
    readonly_fields = ["version", "superseded_by"]
    actions = ["make_new_version"]

    @admin.display(boolean=True, description=_("Aktuell version"))
    def is_current(self, obj: ProgrammeTemplate) -> bool:
        return obj.superseded_by_id is None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and (obj.superseded_by_id or obj.enrolments.exists()):
            # In use: change it by making a new version (the action in the list).
            fields += ["organisation", "name", "description"]
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(description=_("Skapa ny version (för ändringar i en mall som används)"))
    def make_new_version(self, request: HttpRequest, queryset: QuerySet[ProgrammeTemplate]) -> None:
        for template in queryset:
            try:
                new = template_new_version(template=template)
            except Conflict as exc:
                self.message_user(request, f"{template}: {exc.detail}", messages.WARNING)
            else:
                self.message_user(request, _("Skapade %s.") % new, messages.SUCCESS)


@admin.register(ColumnMapping)
class ColumnMappingAdmin(ScopedAdminMixin, admin.ModelAdmin[ColumnMapping]):
    """The header names of the organisation's journal export (API.md "Importing visits from the
    journal system"); a blank field keeps the contract's name."""

    list_display = ["organisation"]
    list_select_related = ["organisation"]
    fields = ["organisation", *CONTRACT_COLUMNS]
