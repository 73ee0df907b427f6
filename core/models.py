"""Who works where: users, organisations, centres, partners and memberships."""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING

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


class Membership(models.Model):
    """A user's role in an organisation; nurses and centre managers work at a centre."""

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
        ]

    def __str__(self) -> str:
        where = self.centre.name if self.centre_id and self.centre else self.organisation.name
        return f"{self.user} – {self.get_role_display()} ({where})"

    def clean(self) -> None:
        if self.centre is not None and self.centre.organisation_id != self.organisation_id:
            raise ValidationError(
                {"centre": _("BVC:n hör till en annan organisation än anställningen.")}
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
