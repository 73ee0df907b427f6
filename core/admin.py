"""Django admin for who works where, scoped to the organisations where the user is admin."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import pghistory
from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ForeignKey, Model, Q, QuerySet, Sum
from django.forms import ModelChoiceField, ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import second_factor, services
from core.models import (
    Centre,
    Membership,
    MembershipEvent,
    MembershipQuerySet,
    Organisation,
    OutgoingMail,
    Partner,
    Role,
    User,
    UserEvent,
)

admin.site.site_header = _("Hembesök – administration")
admin.site.site_title = _("Hembesök")
admin.site.index_title = _("Administration")


def admin_organisation_ids(request: HttpRequest) -> frozenset[Any]:
    return request.user.scope.organisation_ids(Role.ADMIN)  # type: ignore[union-attr]


def _admin_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


_M = TypeVar("_M", bound=Model)


class HistoryContextMixin(admin.ModelAdmin[_M]):
    """Writes made through these pages (forms, their inlines, list actions, deletes) are
    recorded in the pghistory events under the administrator's username, as the services
    record a nurse's."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        with pghistory.context(user=request.user.get_username()):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with pghistory.context(user=request.user.get_username()):
            return super().changelist_view(request, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with pghistory.context(user=request.user.get_username()):
            return super().delete_view(request, object_id, extra_context)


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
    list_filter = ["active", ("organisation", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "hsa_id"]
    list_select_related = ["organisation"]


@admin.register(Partner)
class PartnerAdmin(ScopedAdminMixin, admin.ModelAdmin[Partner]):
    list_display = ["name", "organisation", "kind"]
    list_filter = ["kind", ("organisation", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    list_select_related = ["organisation"]


# --- Memberships: granted by one administrator, clinical roles approved by a second ----------


class GrantingForm(ModelForm[Membership]):
    """Records the administrator as the granter before validation, so that the model's
    `clean()` refuses a clinical role she grants herself as an error on the form (the database
    refuses it too). `granter` is set per request (`_granting_form`)."""

    granter: User | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            self.instance.granted_by = self.granter


def _granting_form(request: HttpRequest) -> type[GrantingForm]:
    return type("GrantingForm", (GrantingForm,), {"granter": _admin_user(request)})


def _membership_status(obj: Membership) -> str:
    if obj.pk is None:
        return ""
    return obj.approval_status


class MembershipInline(ScopedAdminMixin, admin.TabularInline[Membership, User]):
    model = Membership
    fk_name = "user"
    extra = 1
    fields = ["organisation", "role", "centre", "status", "granted_by", "approved_by"]
    readonly_fields = ["status", "granted_by", "approved_by"]

    @admin.display(description=_("status"))
    def status(self, obj: Membership) -> str:
        return _membership_status(obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Granted or removed, never edited: an edit would carry an approval over to another
        # role or centre.
        return False

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["form"] = _granting_form(request)
        return super().get_formset(request, obj, **kwargs)


class ApprovalFilter(admin.SimpleListFilter):
    title = _("godkännande")
    parameter_name = "godkannande"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("pending", str(_("Väntar på godkännande"))),
            ("in_force", str(_("Gäller"))),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        memberships = cast(MembershipQuerySet, queryset)
        if self.value() == "pending":
            return memberships.pending()
        if self.value() == "in_force":
            return memberships.in_force()
        return queryset


@admin.register(Membership)
class MembershipAdmin(ScopedAdminMixin, HistoryContextMixin[Membership]):
    """Every membership of the admin's organisations; the filter "Väntar på godkännande" is the
    list of clinical roles that await a second administrator, who approves them with the
    action "Godkänn"."""

    list_display = [
        "user",
        "role",
        "organisation",
        "centre",
        "status",
        "granted_by",
        "approved_by",
        "approved_at",
    ]
    list_filter = [ApprovalFilter, "role", ("organisation", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "organisation", "centre", "granted_by", "approved_by"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    readonly_fields = ["status", "granted_by", "approved_by", "approved_at"]
    actions = ["approve"]

    @admin.display(description=_("status"))
    def status(self, obj: Membership) -> str:
        return _membership_status(obj)

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple[str, ...]:
        fields = ("user", "organisation", "role", "centre")
        return (*fields, *self.readonly_fields) if obj is not None else fields

    def get_form(
        self,
        request: HttpRequest,
        obj: Membership | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[ModelForm[Membership]]:
        kwargs["form"] = _granting_form(request)
        return super().get_form(request, obj, change, **kwargs)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        if db_field.name == "user" and not request.user.is_superuser:
            # The users the user list shows her (UserAdmin below), no one else's.
            kwargs["queryset"] = User.objects.filter(
                Q(memberships__organisation__in=admin_organisation_ids(request))
                | Q(memberships__isnull=True)
            ).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # granted or removed, never edited (see MembershipInline)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return self._is_admin(request)

    @admin.action(description=_("Godkänn"), permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        approver = _admin_user(request)
        approved = 0
        for membership in queryset.select_related("user", "organisation", "centre"):
            try:
                membership.approve(by=approver)
            except ValidationError as error:
                self.message_user(
                    request, f"{membership}: {' '.join(error.messages)}", messages.ERROR
                )
            else:
                approved += 1
                self.log_change(request, membership, "Godkänd.")
        if approved:
            self.message_user(
                request,
                ngettext(
                    "%(n)d anställning är godkänd.", "%(n)d anställningar är godkända.", approved
                )
                % {"n": approved},
                messages.SUCCESS,
            )


_EVENT_LABELS = {
    "insert": _("Beviljad"),
    "update": _("Ändrad"),
    "delete": _("Borttagen"),
}


def _event_by(event: Any) -> str:
    """Who made the change: the administrator named in its pghistory context, else the system
    (seed_demo, a command, the shell)."""
    context = event.pgh_context
    if context is not None and context.metadata.get("user"):
        return str(context.metadata["user"])
    return str(_("systemet"))


@admin.register(MembershipEvent)
class MembershipEventAdmin(ReadOnlyMixin, ScopedAdminMixin, admin.ModelAdmin[Any]):
    """The history of roles in the admin's organisations: each grant, approval and removal,
    with who did it. Read only: rows are written by database triggers."""

    list_display = [
        "pgh_created_at",
        "event",
        "user",
        "role",
        "organisation",
        "centre",
        "granted_by",
        "approved_by",
        "by",
    ]
    list_filter = ["pgh_label", "role", ("organisation", admin.RelatedOnlyFieldListFilter)]
    list_select_related = [
        "pgh_context",
        "user",
        "organisation",
        "centre",
        "granted_by",
        "approved_by",
    ]
    search_fields = ["user__username", "user__last_name"]
    ordering = ["-pgh_id"]

    @admin.display(description=_("händelse"), ordering="pgh_label")
    def event(self, obj: Any) -> str:
        if obj.pgh_label == "update" and obj.approved_at is not None:
            return str(_("Godkänd"))
        return str(_EVENT_LABELS.get(obj.pgh_label, obj.pgh_label))

    @admin.display(description=_("utförd av"))
    def by(self, obj: Any) -> str:
        return _event_by(obj)


@admin.register(User)
class UserAdmin(ScopedAdminMixin, HistoryContextMixin[User], DjangoUserAdmin[User]):
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
        (_("Historik"), {"fields": ("access_history",)}),
    )
    readonly_fields = [
        "last_login",
        "date_joined",
        "login_lock",
        "second_factor",
        "access_history",
    ]
    actions = ["unlock_login", "reset_second_factor"]

    def _organisation_filter(self, request: HttpRequest) -> Q:
        # A user just created has no membership yet; she sees nothing until given one, so she
        # may be listed to every admin in the meantime.
        return super()._organisation_filter(request) | Q(memberships__isnull=True)

    @admin.display(description=_("Behörighetshistorik"))
    def access_history(self, obj: User) -> SafeString:
        """Changes of the account's access switches (active, staff, superuser) with who made
        them, and a link to her roles' history (scoped to the admin's organisations there)."""
        events: list[Any] = list(
            UserEvent._default_manager.filter(pgh_obj_id=obj.pk)
            .select_related("pgh_context")
            .order_by("-pgh_id")[:50]
        )
        yes, no = str(_("ja")), str(_("nej"))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(event.pgh_created_at).strftime("%Y-%m-%d %H:%M"),
                    _EVENT_LABELS.get(event.pgh_label, event.pgh_label),
                    yes if event.is_active else no,
                    yes if event.is_staff else no,
                    yes if event.is_superuser else no,
                    _event_by(event),
                )
                for event in events
            ),
        )
        roles = reverse("admin:core_membershipevent_changelist") + f"?user={obj.pk}"
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            '<th>{}</th></tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
            _("Tid"),
            _("Händelse"),
            _("Aktiv"),
            _("Personal"),
            _("Superanvändare"),
            _("Utförd av"),
            rows,
            roles,
            _("Rollhistorik"),
        )

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


@admin.register(OutgoingMail)
class OutgoingMailAdmin(ReadOnlyMixin, admin.ModelAdmin[OutgoingMail]):
    """The outbox (core.mail): what was sent, what waits and why. Mail belongs to no single
    organisation, so only the installation's superusers see it."""

    list_display = ("created", "to", "subject", "sent", "attempts", "last_error")
    list_filter = (("sent", admin.EmptyFieldListFilter),)
    search_fields = ("to", "subject")

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


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
