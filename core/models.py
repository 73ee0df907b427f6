"""Who works where: users, organisations, centres, partners and memberships."""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING

import pghistory
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from core.scoping import Scope


class Role(models.TextChoices):
    NURSE = "nurse", _("BVC-sjuksköterska")
    CENTRE_MANAGER = "centre_manager", _("Vårdcentralschef")
    CBHV = "cbhv", _("CBHV-samordnare")
    FINANCE = "finance", _("Ekonomi")
    LOG_REVIEWER = "log_reviewer", _("Logggranskare")
    ADMIN = "admin", _("Administratör")


# Roles that work at one centre; the others work across their organisation.
CENTRE_ROLES = (Role.NURSE, Role.CENTRE_MANAGER)
# The same roles are the clinical ones: they read children's identities, so granting one takes
# two administrators (issue 24: four eyes).
_CLINICAL = Q(role__in=[r.value for r in CENTRE_ROLES])


def _scope_of(user: User | AnonymousUser) -> Scope:
    from core.scoping import scope_of

    return scope_of(user)


class User(AbstractUser):
    """A person who logs in. What they may see comes from their memberships, not from here."""

    class Meta:
        verbose_name = _("användare")
        verbose_name_plural = _("användare")

    @cached_property
    def scope(self) -> Scope:
        from core.scoping import Scope

        return Scope.for_user(self)


class OrganisationQuerySet(models.QuerySet["Organisation"]):
    def for_user(self, user: User | AnonymousUser) -> OrganisationQuerySet:
        return self.filter(id__in=_scope_of(user).organisation_ids())


class Organisation(models.Model):
    """A region or a municipality (Förordning 2025:74 names both)."""

    class Kind(models.TextChoices):
        REGION = "region", _("Region")
        MUNICIPALITY = "municipality", _("Kommun")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("namn"), max_length=200, unique=True)
    kind = models.CharField(_("typ"), max_length=20, choices=Kind.choices)
    reserve_number_pattern = models.CharField(
        _("format för reservnummer"),
        max_length=200,
        blank=True,
        help_text=_("Reguljärt uttryck som regionens reservnummer ska följa; tomt = ej tillåtet."),
    )

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisationer")

    def __str__(self) -> str:
        return self.name


class CentreQuerySet(models.QuerySet["Centre"]):
    def for_user(self, user: User | AnonymousUser) -> CentreQuerySet:
        """Centres of the organisations the user works in. Centres are not patient data: CBHV and
        finance need the whole list, and a nurse picks among her own in forms."""
        return self.filter(organisation_id__in=_scope_of(user).organisation_ids())

    def active(self) -> CentreQuerySet:
        return self.filter(active=True)


class Centre(models.Model):
    """A child health centre (BVC), usually part of a primary-care centre."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="centres",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("namn"), max_length=200)
    hsa_id = models.CharField(_("HSA-id"), max_length=64, blank=True)
    active = models.BooleanField(_("aktiv"), default=True)

    objects = CentreQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("BVC")
        verbose_name_plural = _("BVC")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="core_centre_unique_name_per_organisation"
            ),
            models.UniqueConstraint(
                fields=["hsa_id"], condition=~Q(hsa_id=""), name="core_centre_unique_hsa_id"
            ),
            # Target of the composite foreign keys (centre, organisation) that make a membership's
            # centre belong to the membership's organisation in the database itself.
            models.UniqueConstraint(
                fields=["id", "organisation"], name="core_centre_unique_id_organisation"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PartnerQuerySet(models.QuerySet["Partner"]):
    def for_user(self, user: User | AnonymousUser) -> PartnerQuerySet:
        return self.filter(organisation_id__in=_scope_of(user).organisation_ids())


class Partner(models.Model):
    """A recipient of programme money that is not a centre (seed 001: Folktandvården;
    seed 003: Leanlink, a municipal provider)."""

    class Kind(models.TextChoices):
        DENTAL_CARE = "dental_care", _("Tandvård")
        MUNICIPAL_PROVIDER = "municipal_provider", _("Kommunal utförare")
        SOCIAL_SERVICES = "social_services", _("Socialtjänst")
        OTHER = "other", _("Annan")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="partners",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("namn"), max_length=200)
    kind = models.CharField(_("typ"), max_length=30, choices=Kind.choices)

    objects = PartnerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("samverkanspart")
        verbose_name_plural = _("samverkansparter")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="core_partner_unique_name_per_organisation"
            )
        ]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet["Membership"]):
    def in_force(self) -> MembershipQuerySet:
        """Memberships that confer their role: every non-clinical one, a clinical one granted by
        the system (seed_demo, a command, the shell: `granted_by` empty) or one that a second
        administrator has approved. Scoping (core.scoping) reads only these."""
        return self.filter(~_CLINICAL | Q(granted_by__isnull=True) | Q(approved_at__isnull=False))

    def pending(self) -> MembershipQuerySet:
        """Clinical roles granted in the admin that no second administrator has approved yet."""
        return self.filter(_CLINICAL, granted_by__isnull=False, approved_at__isnull=True)


class Membership(models.Model):
    """A user's role in an organisation; nurses and centre managers work at a centre.

    Who granted it is recorded: `granted_by` is the administrator who gave the role in the admin,
    or empty for the system (seed_demo, commands, the shell: whoever has the database already
    has everything). A clinical role (nurse, centre manager: they read children's identities)
    granted by an administrator confers nothing until a second administrator, neither the
    granter nor the grantee, approves it; nobody grants or approves one for herself. The database
    holds those rules; a membership is granted or removed, never edited (the admin shows it read
    only), so an approval cannot be carried over to another user, role or centre.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("användare")
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="memberships",
        verbose_name=_("organisation"),
    )
    role = models.CharField(_("roll"), max_length=20, choices=Role.choices)
    centre = models.ForeignKey(
        Centre,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("BVC"),
    )
    # PROTECT, not SET_NULL: an emptied `granted_by` would turn a pending grant into a system
    # grant, in force. A user who granted or approved a role is deactivated, not deleted.
    granted_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("beviljad av"),
    )
    approved_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("godkänd av"),
    )
    approved_at = models.DateTimeField(_("godkänd"), null=True, blank=True, editable=False)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("anställning")
        verbose_name_plural = _("anställningar")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(role__in=[r.value for r in CENTRE_ROLES], centre__isnull=False)
                    | (~Q(role__in=[r.value for r in CENTRE_ROLES]) & Q(centre__isnull=True))
                ),
                name="core_membership_centre_iff_centre_role",
                violation_error_message=_(
                    "Sjuksköterskor och vårdcentralschefer har en BVC; övriga roller har ingen."
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "organisation", "role", "centre"],
                nulls_distinct=False,
                name="core_membership_unique",
            ),
            models.CheckConstraint(
                condition=~_CLINICAL | Q(granted_by__isnull=True) | ~Q(granted_by=models.F("user")),
                name="core_membership_no_self_granted_clinical_role",
                violation_error_message=_("Ingen kan ge sig själv en klinisk roll."),
            ),
            # Approval exists only for a clinical role granted by an administrator (a system
            # grant needs none), and then with both who and when.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True, approved_at__isnull=True)
                | (
                    _CLINICAL
                    & Q(
                        granted_by__isnull=False,
                        approved_by__isnull=False,
                        approved_at__isnull=False,
                    )
                ),
                name="core_membership_approval_of_an_admin_grant_of_a_clinical_role",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | (~Q(approved_by=models.F("user")) & ~Q(approved_by=models.F("granted_by"))),
                name="core_membership_approver_is_neither_grantee_nor_granter",
                violation_error_message=_(
                    "En klinisk roll godkänns av en annan administratör än den som gav den och "
                    "den som fick den."
                ),
            ),
        ]

    def __str__(self) -> str:
        where = self.centre.name if self.centre_id and self.centre else self.organisation.name
        return f"{self.user} – {self.get_role_display()} ({where})"

    @property
    def is_clinical(self) -> bool:
        return self.role in CENTRE_ROLES

    @property
    def is_pending(self) -> bool:
        return self.is_clinical and self.granted_by_id is not None and self.approved_at is None

    @property
    def approval_status(self) -> str:
        if self.is_pending:
            return str(_("Väntar på godkännande"))
        return str(_("Gäller"))

    def clean(self) -> None:
        if self.centre is not None and self.centre.organisation_id != self.organisation_id:
            raise ValidationError(
                {"centre": _("BVC:n hör till en annan organisation än anställningen.")}
            )
        # On `role`: the one field that every form granting a membership shows (the user is
        # the page's own on the user page's inline).
        if (
            self.is_clinical
            and self.granted_by_id is not None
            and self.granted_by_id == self.user_id
        ):
            raise ValidationError(
                {
                    "role": _(
                        "Du kan inte ge dig själv en klinisk roll (sjuksköterska, "
                        "vårdcentralschef); be en annan administratör."
                    )
                }
            )

    def approve(self, *, by: User) -> None:
        """The second administrator's approval of a clinical role granted in the admin. Refused
        (ValidationError) for the granter, the grantee, someone who is not an administrator of
        the membership's organisation, and a membership that is not pending. The update is
        conditional, so two approvals at once record one."""
        if not self.is_pending:
            raise ValidationError(_("Anställningen väntar inte på godkännande."))
        if by.pk == self.granted_by_id:
            raise ValidationError(
                _("Den som gav rollen kan inte godkänna den; en annan administratör gör det.")
            )
        if by.pk == self.user_id:
            raise ValidationError(_("Ingen kan godkänna en klinisk roll åt sig själv."))
        if not (
            by.is_active
            and (
                by.is_superuser
                or by.scope.has_role_in(Role.ADMIN, organisation_id=self.organisation_id)
            )
        ):
            raise ValidationError(
                _("Bara en administratör i anställningens organisation kan godkänna den.")
            )
        now = timezone.now()
        updated = Membership.objects.filter(pk=self.pk, approved_at__isnull=True).update(
            approved_by=by, approved_at=now
        )
        if not updated:
            raise ValidationError(_("Anställningen väntar inte på godkännande."))
        self.approved_by, self.approved_at = by, now


# History of who was given which role, by whom, and its approval and removal (issue 24); the
# context names the administrator (core.admin wraps its writes in pghistory.context).
MembershipEvent = pghistory.create_event_model(
    Membership,
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    model_name="MembershipEvent",
    abstract=False,
    meta={"verbose_name": _("rollhändelse"), "verbose_name_plural": _("rollhistorik")},
)

# A user's access switches, not her profile or password: an insert, and each change of these.
UserEvent = pghistory.create_event_model(
    User,
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    fields=["username", "is_active", "is_staff", "is_superuser"],
    obj_field=pghistory.ObjForeignKey(related_name="access_events"),
    model_name="UserEvent",
    abstract=False,
    meta={
        "verbose_name": _("användarhändelse"),
        "verbose_name_plural": _("användarhistorik"),
    },
)


class IdempotencyKey(models.Model):
    """A remembered answer to an unsafe API request sent with `Idempotency-Key` (API.md): a
    replay with the same body gets the same status and body and changes nothing; the same key
    with another body is a conflict. Keys are per user and endpoint."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=200)
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "endpoint", "key"], name="core_idempotency_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self, user: User) -> ApiTokenQuerySet:
        """The user's tokens that still authenticate: not expired, and made under her current
        password (one changed by any path, the admin's form or a command too, ends them)."""
        return self.filter(
            user=user, expires__gt=timezone.now(), auth_hash=user.get_session_auth_hash()
        )


class ApiToken(models.Model):
    """An API key, sent as `Authorization: Token <key>`. One is made at each login
    (`core.services.api_token_create`); the key is shown then and never again: only its SHA-256
    is stored (a key is 256 random bits, so a fast hash is enough; a slow one would only slow
    every request). A token ends at `expires`, when its user revokes it, when her password
    changes, or when she is deactivated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("användare")
    )
    key_hash = models.CharField(_("nyckelns SHA-256"), max_length=64, unique=True, editable=False)
    # The user's session auth hash (an HMAC of her password hash) when the token was made, as
    # Django keeps one in each session: a password change makes them differ.
    auth_hash = models.CharField(max_length=128, editable=False)
    created = models.DateTimeField(_("skapad"), default=timezone.now)
    expires = models.DateTimeField(_("upphör"))
    # The last request made with it, to the minute (at first: the login that made it).
    last_used = models.DateTimeField(_("senast använd"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = _("API-token")
        verbose_name_plural = _("API-token")
        constraints = [
            models.CheckConstraint(
                condition=Q(expires__gt=models.F("created")),
                name="core_apitoken_expires_after_created",
            ),
            # A digest, never a key: a plaintext key cannot be stored by mistake.
            models.CheckConstraint(
                condition=Q(key_hash__regex=r"^[0-9a-f]{64}$"),
                name="core_apitoken_key_hash_is_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.created:%Y-%m-%d %H:%M}"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class OutgoingMail(models.Model):
    """One e-mail to one recipient, written in the transaction that causes it (a decision, a
    reminder) and sent by Celery after commit (core.mail). A mail server that is down delays
    it; it never fails the request, and a sent mail is never sent again."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    to = models.EmailField(_("mottagare"))
    subject = models.CharField(_("ämne"), max_length=200)
    body = models.TextField(_("text"))
    created = models.DateTimeField(_("skapat"), default=timezone.now, db_index=True)
    sent = models.DateTimeField(_("skickat"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("försök"), default=0)
    last_error = models.CharField(_("senaste fel"), max_length=300, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("utgående e-post")
        verbose_name_plural = _("utgående e-post")
        indexes = [
            models.Index(
                fields=["created"], condition=Q(sent__isnull=True), name="core_mail_unsent_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
