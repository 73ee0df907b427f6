"""Django admin for who works where, scoped to the organisations where the user is admin."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import ForeignKey, Model, Q, QuerySet, Sum
from django.forms import ModelChoiceField, ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import second_factor, services
from core.models import Centre, Membership, Organisation, Partner, Role, User

admin.site.site_header = _("Hembesök – administration")
admin.site.site_title = _("Hembesök")
admin.site.index_title = _("Administration")


def admin_organisation_ids(request: HttpRequest) -> frozenset[Any]:
    return request.user.scope.organisation_ids(Role.ADMIN)  # type: ignore[union-attr]


class ReadOnlyMixin:
    """Audited rows: the admin reads them; they change only through their services."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


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
        # misc: a mixin; ModelAdmin, which has get_queryset, comes after it in the MRO.
        qs: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
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
        # misc: as in get_queryset, the method is ModelAdmin's, later in the MRO.
        field: ModelChoiceField[Any] | None = super().formfield_for_foreignkey(  # type: ignore[misc]
            db_field, request, **kwargs
        )
        return field


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
class UserAdmin(ScopedAdminMixin, DjangoUserAdmin[User]):
    organisation_path = "memberships__organisation"
    inlines = [MembershipInline]
    list_display = ["username", "first_name", "last_name", "email", "is_active"]
    list_filter = ["is_active", "memberships__role"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personuppgifter"), {"fields": ("first_name", "last_name", "email")}),
        (
            _("Status"),
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "last_login",
                    "date_joined",
                    "login_lock",
                    "second_factor",
                )
            },
        ),
    )
    readonly_fields = ["last_login", "date_joined", "login_lock", "second_factor"]
    actions = ["unlock_login", "reset_second_factor"]

    def _organisation_filter(self, request: HttpRequest) -> Q:
        # A user just created has no membership yet; she sees nothing until given one, so she
        # may be listed to every admin in the meantime.
        return super()._organisation_filter(request) | Q(memberships__isnull=True)

    # --- Sign-in: lockout, deactivation, a password set by the admin ---------------------------
    # Axes' lockout records name a username and an address, no organisation. An organisation's
    # admin lifts a lockout from here, where the user list is already scoped to her
    # organisations; axes' own list (every attempt, guessed usernames included) is the
    # operator's (AccessAttemptAdmin below).

    @admin.display(description=_("Inloggningsspärr"))
    def login_lock(self, obj: User) -> str:
        since = timezone.now() - settings.AXES_COOLOFF_TIME
        per_address = (
            AccessAttempt.objects.filter(username=obj.get_username(), attempt_time__gte=since)
            .values("ip_address")
            .annotate(failures=Sum("failures_since_start"))
            .values_list("failures", flat=True)
        )
        most = max(per_address, default=0)
        if most >= settings.AXES_FAILURE_LIMIT:
            return str(_("Spärrad (för många misslyckade inloggningar)"))
        if most:
            return str(_("%(n)d misslyckade inloggningar de senaste 15 minuterna") % {"n": most})
        return str(_("Ingen"))

    @admin.action(description=_("Häv inloggningsspärren"), permissions=["change"])
    def unlock_login(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset)
        for user in users:
            services.user_unlock(user=user)
            self.log_change(request, user, "Inloggningsspärren hävd.")
        self.message_user(
            request,
            ngettext(
                "Inloggningsspärren är hävd för %(n)d användare.",
                "Inloggningsspärren är hävd för %(n)d användare.",
                len(users),
            )
            % {"n": len(users)},
            messages.SUCCESS,
        )

    # --- The second factor: whether she has one, and a reset for a lost phone ------------------
    @admin.display(description=_("Andra faktor"))
    def second_factor(self, obj: User) -> str:
        if second_factor.has_second_factor(obj):
            return str(_("Autentiseringsapp registrerad"))
        if second_factor.second_factor_required(obj):
            return str(_("Registreras vid nästa inloggning"))
        return str(_("Krävs inte för hennes roller"))

    @admin.action(description=_("Återställ andra faktorn (tappad telefon)"), permissions=["change"])
    def reset_second_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset)
        for user in users:
            second_factor.second_factor_reset(user=user)
            self.log_change(request, user, "Andra faktorn återställd.")
        self.message_user(
            request,
            ngettext(
                "Andra faktorn är återställd för %(n)d användare; hon registrerar en ny vid "
                "nästa inloggning.",
                "Andra faktorn är återställd för %(n)d användare; de registrerar en ny vid "
                "nästa inloggning.",
                len(users),
            )
            % {"n": len(users)},
            messages.SUCCESS,
        )

    def save_model(
        self, request: HttpRequest, obj: User, form: ModelForm[User], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_deactivated(user=obj)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's page for an admin to set a user's password; afterwards the user's other
        sessions and her API tokens end, as when she changes it herself."""
        before = User.objects.filter(pk=unquote(id)).values_list("password", flat=True).first()
        response = super().user_change_password(request, id, form_url)
        user = User.objects.filter(pk=unquote(id)).first()
        if request.method == "POST" and user is not None and user.password != before:
            own = user.pk == request.user.pk
            services.user_password_changed(
                user=user, keep_session_key=request.session.session_key if own else None
            )
        return response


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """Axes' failed-login records (AXES_ENABLE_ADMIN is off so that this scoped registration
    replaces its own). They name no organisation, and many no real user, so only a superuser
    (the operator) sees them; deleting a record lifts that lockout."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)


# django-otp registers admin pages for its devices that list every user's devices, whatever
# her organisation, and show a device's secret as a QR code: an admin could copy a colleague's
# second factor. Devices are managed only through the user page above (the reset action).
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
