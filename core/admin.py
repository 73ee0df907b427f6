"""Django admin for who works where, scoped to the organisations where the user is admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import ForeignKey, Model, Q, QuerySet
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _

from core.models import Centre, Membership, Organisation, Partner, Role, User

admin.site.site_header = _("Hembesök – administration")
admin.site.site_title = _("Hembesök")
admin.site.index_title = _("Administration")


def admin_organisation_ids(request: HttpRequest) -> frozenset[Any]:
    return request.user.scope.organisation_ids(Role.ADMIN)  # type: ignore[union-attr]


class ScopedAdminMixin:
    """Objects outside the admin's organisations do not exist for her: lists leave them out and
    their pages answer 404 (Django's own admin would redirect with a message, which tells that
    the object exists)."""

    # The lookup from the model to its organisation; "" for Organisation itself.
    organisation_path: str = "organisation"

    def _is_admin(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and (user.is_superuser or admin_organisation_ids(request)))

    def _organisation_filter(self, request: HttpRequest) -> Q:
        field = f"{self.organisation_path}__in" if self.organisation_path else "pk__in"
        return Q(**{field: admin_organisation_ids(request)})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return qs
        return qs.filter(self._organisation_filter(request)).distinct()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_admin(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._is_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_admin(request)

    def _get_obj_does_not_exist_redirect(self, *args: Any, **kwargs: Any) -> Any:
        raise Http404

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        if not request.user.is_superuser:
            orgs = admin_organisation_ids(request)
            if db_field.related_model is Organisation:
                kwargs["queryset"] = Organisation.objects.filter(pk__in=orgs)
            elif db_field.related_model is Centre:
                kwargs["queryset"] = Centre.objects.filter(organisation_id__in=orgs)
            elif db_field.related_model is Partner:
                kwargs["queryset"] = Partner.objects.filter(organisation_id__in=orgs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


@admin.register(Organisation)
class OrganisationAdmin(ScopedAdminMixin, admin.ModelAdmin[Organisation]):
    organisation_path = ""
    list_display = ["name", "kind"]
    search_fields = ["name"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        # A new organisation is an operator's decision, not an organisation admin's.
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser


@admin.register(Centre)
class CentreAdmin(ScopedAdminMixin, admin.ModelAdmin[Centre]):
    list_display = ["name", "organisation", "hsa_id", "active"]
    list_filter = ["active", "organisation"]
    search_fields = ["name", "hsa_id"]
    list_select_related = ["organisation"]


@admin.register(Partner)
class PartnerAdmin(ScopedAdminMixin, admin.ModelAdmin[Partner]):
    list_display = ["name", "organisation", "kind"]
    list_filter = ["kind", "organisation"]
    search_fields = ["name"]
    list_select_related = ["organisation"]


class MembershipInline(ScopedAdminMixin, admin.TabularInline[Membership, User]):
    model = Membership
    extra = 1
    fields = ["organisation", "role", "centre"]


@admin.register(User)
class UserAdmin(ScopedAdminMixin, DjangoUserAdmin):
    organisation_path = "memberships__organisation"
    inlines = [MembershipInline]
    list_display = ["username", "first_name", "last_name", "email", "is_active"]
    list_filter = ["is_active", "memberships__role"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personuppgifter"), {"fields": ("first_name", "last_name", "email")}),
        (_("Status"), {"fields": ("is_active", "is_staff", "last_login", "date_joined")}),
    )
    readonly_fields = ["last_login", "date_joined"]

    def _organisation_filter(self, request: HttpRequest) -> Q:
        # A user just created has no membership yet; she sees nothing until given one, so she
        # may be listed to every admin in the meantime.
        return super()._organisation_filter(request) | Q(memberships__isnull=True)
