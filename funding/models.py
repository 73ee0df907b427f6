"""Fixed compensation: child CNI, the yearly scheme, and applications with their decisions
(DOMAIN.md 4.2; seed 004). Money (grants, the ledger, compensation) comes with its own issue."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

import pghistory
import pgtrigger
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.dates import year_bounds
from core.db_guards import Guard, GuardProtect, OwnerOnlyIgnoreSql  # noqa: F401 - migrations name OwnerOnlyIgnoreSql here
from core.models import Centre, Organisation, Role, User
from core.scoping import scope_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser


class CniKind(models.TextChoices):
    CHILD_CNI = "child_cni", _("Barn-CNI")
    CNI = "cni", _("CNI")


class CniValueQuerySet(models.QuerySet["CniValue"]):
    def for_user(self, user: User | AnonymousUser) -> CniValueQuerySet:
        return self.filter(centre__organisation_id__in=scope_of(user).organisation_ids())

    def child_cni(self) -> CniValueQuerySet:
        return self.filter(kind=CniKind.CHILD_CNI)

    def current_for(self, centre_ids: list[uuid.UUID] | None = None) -> CniValueQuerySet:
        """The latest child CNI of each centre (by reference date, then import time)."""
        qs = self.child_cni()
        if centre_ids is not None:
            qs = qs.filter(centre_id__in=centre_ids)
        return qs.order_by("centre_id", "-reference_date", "-created_at").distinct("centre_id")


class CniValue(models.Model):
    """A Care Need Index of a centre's listed population: a history, the latest one current."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="cni_values", verbose_name=_("BVC")
    )
    kind = models.CharField(_("typ"), max_length=10, choices=CniKind.choices)
    value = models.DecimalField(_("värde"), max_digits=6, decimal_places=2)
    source = models.CharField(_("källa"), max_length=100, help_text=_("Till exempel SCB."))
    reference_date = models.DateField(_("referensdatum"))
    scale = models.CharField(
        _("skala"), max_length=100, default="Riksgenomsnitt 1,0", help_text=_("Vad 1,0 betyder.")
    )
    listed_children = models.PositiveIntegerField(_("listade barn 0–5 år"), null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CniValueQuerySet.as_manager()

    class Meta:
        ordering = ["centre", "-reference_date", "-created_at"]
        verbose_name = _("CNI-värde")
        verbose_name_plural = _("CNI-värden")
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="funding_cni_not_negative"),
            models.UniqueConstraint(
                fields=["centre", "kind", "reference_date", "source"],
                name="funding_cni_unique_per_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.centre} {self.get_kind_display()} {self.value} ({self.reference_date})"


class Weighting(models.TextChoices):
    CNI_X_LISTED = "cni_x_listed", _("Barn-CNI × listade barn 0–5 år")
    CNI = "cni", _("Barn-CNI")


# Seed 004 (Region Örebro): child CNI above 2. The threshold of an organisation without a scheme.
DEFAULT_THRESHOLD = Decimal("2.00")


class SchemesInForce:
    """The organisations' schemes, loaded once, answering "which scheme is in force for a year":
    the year's own, or the latest earlier one carried forward, else seed 004's defaults
    (DOMAIN.md 4.2, API.md). The one place this rule is written; `funding.selectors.
    scheme_in_force()` is its form for one organisation."""

    def __init__(self, schemes: Iterable[FixedCompensationScheme]) -> None:
        self._by_org: dict[uuid.UUID, list[FixedCompensationScheme]] = {}
        for scheme in sorted(schemes, key=lambda s: -s.from_year):
            self._by_org.setdefault(scheme.organisation_id, []).append(scheme)

    def for_year(self, organisation_id: uuid.UUID, year: int) -> FixedCompensationScheme | None:
        """The stored scheme in force, or None when the organisation has none for the year."""
        for scheme in self._by_org.get(organisation_id, []):
            if scheme.from_year <= year:
                return scheme
        return None

    def scheme(self, organisation_id: uuid.UUID, year: int) -> FixedCompensationScheme:
        """The scheme in force; without a stored one, seed 004's defaults (unsaved)."""
        scheme = self.for_year(organisation_id, year)
        if scheme is None:
            return FixedCompensationScheme(
                organisation_id=organisation_id,
                from_year=year,
                threshold=DEFAULT_THRESHOLD,
                weighting=Weighting.CNI_X_LISTED,
            )
        return scheme

    def threshold(self, organisation_id: uuid.UUID, year: int) -> Decimal:
        return self.scheme(organisation_id, year).threshold


class SchemeQuerySet(models.QuerySet["FixedCompensationScheme"]):
    def in_force_lookup(self, organisation_ids: Iterable[uuid.UUID]) -> SchemesInForce:
        """One query for a page that needs the scheme of many organisations and years."""
        return SchemesInForce(self.filter(organisation_id__in=list(organisation_ids)))


class FixedCompensationScheme(models.Model):
    """An organisation's rules for fixed compensation from a year on (seed 004: child CNI
    above 2; the pool distributed by child CNI)."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="fixed_schemes",
        verbose_name=_("organisation"),
    )
    from_year = models.PositiveIntegerField(_("från år"))
    threshold = models.DecimalField(
        _("tröskel för barn-CNI"),
        max_digits=6,
        decimal_places=2,
        default=DEFAULT_THRESHOLD,
        help_text=_("Bara BVC med barn-CNI över tröskeln kan ansöka."),
    )
    weighting = models.CharField(
        _("fördelning av den fasta potten"),
        max_length=20,
        choices=Weighting.choices,
        default=Weighting.CNI_X_LISTED,
    )
    updated_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = SchemeQuerySet.as_manager()

    class Meta:
        ordering = ["organisation", "-from_year"]
        verbose_name = _("ordning för fast ersättning")
        verbose_name_plural = _("ordningar för fast ersättning")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "from_year"], name="funding_scheme_unique_year"
            ),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="funding_scheme_threshold"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} från {self.from_year}"


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("Utkast")
    SUBMITTED = "submitted", _("Inskickad")
    CHANGES_REQUESTED = "changes_requested", _("Komplettering begärd")
    APPROVED = "approved", _("Beviljad")
    REJECTED = "rejected", _("Avslagen")
    WITHDRAWN = "withdrawn", _("Återtagen")


class Transport(models.TextChoices):
    CAR = "car", _("Bil")
    BICYCLE = "bicycle", _("Cykel")
    PUBLIC_TRANSPORT = "public_transport", _("Kollektivtrafik")
    WALKING = "walking", _("Till fots")
    OTHER = "other", _("Annat")


class ApplicationQuerySet(models.QuerySet["Application"]):
    def for_user(self, user: User | AnonymousUser) -> ApplicationQuerySet:
        """The centre's own applications for its nurses and manager; all of the organisation's
        for CBHV, finance and admins (figures, no child data)."""
        scope = scope_of(user)
        return self.filter(
            Q(centre_id__in=scope.centre_ids(Role.NURSE, Role.CENTRE_MANAGER))
            | Q(
                centre__organisation_id__in=scope.organisation_ids(
                    Role.CBHV, Role.FINANCE, Role.ADMIN
                )
            )
        )

    def fixed_on(self, day: datetime.date) -> ApplicationQuerySet:
        """Applications that give their centre fixed compensation on `day`: approved for the
        day's year, effective on or before it, and not withdrawn on or before it (API.md)."""
        return self.filter(
            year=day.year,
            approved=True,
            effective_from__lte=day,
        ).filter(Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gt=day))

    def fixed_in_year(self) -> ApplicationQuerySet:
        """Applications that gave their centre fixed compensation on at least one day of their
        year (`fixed_on(day)` for some day): approved (the flag stays when an approved
        application is withdrawn) and not withdrawn on or before the day it took effect. A
        centre withdrawn in November was paid until then, so it still owes its annual account."""
        return self.filter(approved=True, effective_from__isnull=False).filter(
            Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gt=models.F("effective_from"))
        )


@pghistory.track()
class Application(models.Model):
    """A centre's application to CBHV for fixed compensation for a year, with its plan."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    centre = models.ForeignKey(
        Centre, on_delete=models.PROTECT, related_name="applications", verbose_name=_("BVC")
    )
    year = models.PositiveIntegerField(_("år"))
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.DRAFT,
    )
    # The plan (seed 004).
    nurse_hours_per_week = models.DecimalField(
        _("sjukskötersketid (timmar per vecka)"), max_digits=5, decimal_places=1
    )
    social_services_contacted = models.BooleanField(_("kontakt tagen med socialtjänsten"))
    social_services_contact = models.CharField(
        _("kontakt hos socialtjänsten"),
        max_length=200,
        blank=True,
        help_text=_("Familjestödjare eller kurator som har utrymme för hembesöken."),
    )
    planned_visits = models.PositiveIntegerField(_("planerade utökade hembesök"))
    programme = models.CharField(
        _("omfattning"),
        max_length=10,
        choices=[("full", _("Hela programmet")), ("partial", _("Delar av programmet"))],
    )
    planned_slots = models.JSONField(_("planerade besök"), default=list, blank=True)
    target_families = models.TextField(_("familjer som ska erbjudas"))
    start_date = models.DateField(_("planerad start"))
    transport = models.CharField(_("transport"), max_length=20, choices=Transport.choices)

    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Kept when an approved application is withdrawn: it had fixed compensation until then.
    approved = models.BooleanField(default=False)
    decision_comment = models.TextField(blank=True)
    effective_from = models.DateField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # The local calendar day of withdrawn_at: fixed compensation ends the day before.
    withdrawn_on = models.DateField(null=True, blank=True)

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "centre__name"]
        verbose_name = _("ansökan om fast ersättning")
        verbose_name_plural = _("ansökningar om fast ersättning")
        constraints = [
            models.UniqueConstraint(fields=["centre", "year"], name="funding_application_unique"),
            models.CheckConstraint(
                condition=~Q(approved=True)
                | Q(effective_from__isnull=False, decided_at__isnull=False),
                name="funding_application_approved_has_decision",
            ),
            models.CheckConstraint(
                condition=Q(approved=False)
                | Q(status__in=[ApplicationStatus.APPROVED, ApplicationStatus.WITHDRAWN]),
                name="funding_application_approved_state",
            ),
            models.CheckConstraint(
                condition=(Q(status=ApplicationStatus.WITHDRAWN) & Q(withdrawn_on__isnull=False))
                | (~Q(status=ApplicationStatus.WITHDRAWN) & Q(withdrawn_on__isnull=True)),
                name="funding_application_withdrawn_has_day",
            ),
            models.CheckConstraint(
                condition=~Q(status=ApplicationStatus.REJECTED) | ~Q(decision_comment=""),
                name="funding_application_rejection_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["year", "status"], name="funding_app_year_status_idx")]

    def __str__(self) -> str:
        return f"{self.centre} {self.year} ({self.get_status_display()})"

    def fixed_period(self) -> tuple[datetime.date, datetime.date] | None:
        """The days of its year on which this application gives its centre fixed compensation
        (API.md): from `effective_from` up to the day before `withdrawn_on`, else to 31
        December; None when there is no such day. The row's form of
        `Application.objects.fixed_on(day)` (a test holds the two together)."""
        if not self.approved or self.effective_from is None:
            return None
        first, last = year_bounds(self.year)
        start = max(self.effective_from, first)
        end = last
        if self.withdrawn_on is not None:
            end = min(end, self.withdrawn_on - datetime.timedelta(days=1))
        return (start, end) if start <= end else None

    def gives_fixed_on(self, day: datetime.date) -> bool:
        period = self.fixed_period()
        return period is not None and period[0] <= day <= period[1]


class TransitionKind(models.TextChoices):
    CREATED = "created", _("Utkast skapat")
    UPDATED = "updated", _("Ändrad")
    SUBMITTED = "submitted", _("Inskickad")
    RESUBMITTED = "resubmitted", _("Inskickad på nytt")
    CHANGES_REQUESTED = "changes_requested", _("Komplettering begärd")
    APPROVED = "approved", _("Beviljad")
    REJECTED = "rejected", _("Avslagen")
    WITHDRAWN = "withdrawn", _("Återtagen")


class ApplicationTransition(models.Model):
    """Each transition, with who, when and why: the application's history."""

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="transitions"
    )
    kind = models.CharField(max_length=20, choices=TransitionKind.choices)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("händelse")
        verbose_name_plural = _("händelser")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d} {self.get_kind_display()}"


# --- Database guards of money records ---------------------------------------------------------
# core.db_guards: triggers that the application's own role cannot ignore.
def no_truncate(name: str) -> Guard:
    """Money records are never emptied wholesale (a row-level trigger does not see TRUNCATE)."""
    return Guard(
        name=name,
        operation=pgtrigger.Truncate,
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        func="RAISE EXCEPTION 'TRUNCATE of % is refused: money records are kept', TG_TABLE_NAME;"
        " RETURN NULL;",
    )


# --- Grants and the ledger (DOMAIN.md 4.3) ----------------------------------------------------
class Funder(models.TextChoices):
    SOCIALSTYRELSEN = "socialstyrelsen", _("Socialstyrelsen")
    SKL = "skl", _("SKL (Sveriges Kommuner och Landsting)")
    REGION = "region", _("Regionen själv")
    OTHER = "other", _("Annan")


GRANT_FROZEN_FIELDS = [
    "closed_at",
    "unused_at_close",
    "amount",
    "organisation_id",
    "funder",
    "year",
    "received_on",
    "use_by",
]
GRANT_FROZEN_CHANGED = " OR ".join(
    f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in GRANT_FROZEN_FIELDS
)


class GrantQuerySet(models.QuerySet["Grant"]):
    def for_user(self, user: User | AnonymousUser) -> GrantQuerySet:
        """Finance and CBHV (read-only) of the organisation: money and aggregates only."""
        return self.filter(
            organisation_id__in=scope_of(user).organisation_ids(Role.FINANCE, Role.CBHV)
        )

    def for_finance(self, user: User | AnonymousUser) -> GrantQuerySet:
        """The grants the user may move money on: finance of the grant's organisation (CBHV of
        it only reads)."""
        return self.filter(organisation_id__in=scope_of(user).organisation_ids(Role.FINANCE))

    def open(self) -> GrantQuerySet:
        return self.filter(closed_at__isnull=True)


class Grant(models.Model):
    """Money received for the programme: a state grant (Socialstyrelsen since 2023), an SKL
    agreement (2018–2020), the region's own permanent money, or other."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="grants",
        verbose_name=_("organisation"),
    )
    funder = models.CharField(_("bidragsgivare"), max_length=20, choices=Funder.choices)
    reference = models.CharField(_("beslut (diarienummer)"), max_length=60)
    year = models.PositiveIntegerField(_("år"))
    amount = models.DecimalField(_("belopp"), max_digits=14, decimal_places=2)
    requisitioned_on = models.DateField(_("rekvirerat"), null=True, blank=True)
    received_on = models.DateField(_("mottaget"))
    use_by = models.DateField(_("används senast"))
    report_due = models.DateField(_("redovisas senast"))
    conditions = models.TextField(_("villkor"), blank=True)
    # Close freezes `unused` (DOMAIN.md 4.3): stored once, at close, from the ledger.
    closed_at = models.DateTimeField(null=True, blank=True)
    unused_at_close = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "funder", "reference"]
        verbose_name = _("bidrag")
        verbose_name_plural = _("bidrag")
        constraints = [
            models.UniqueConstraint(
                fields=["funder", "reference"], name="funding_grant_unique_ref"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="funding_grant_amount_positive"),
            models.CheckConstraint(
                condition=Q(use_by__gte=models.F("received_on")),
                name="funding_grant_use_by_after_receipt",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True, unused_at_close__isnull=True)
                | Q(closed_at__isnull=False, unused_at_close__isnull=False),
                name="funding_grant_close_freezes_unused",
            ),
        ]
        triggers = [
            # Close freezes the figures the final report states; other fields (the report's
            # due date, the conditions' text) may still be corrected.
            Guard(
                name="grant_closed_is_frozen",
                operation=pgtrigger.Update,
                when=pgtrigger.Before,
                condition=pgtrigger.Q(old__closed_at__isnull=False),
                func=f"""
                    IF {GRANT_FROZEN_CHANGED} THEN
                        RAISE EXCEPTION 'Grant % is closed: its frozen figures cannot change',
                            OLD.id;
                    END IF;
                    RETURN NEW;
                """,
            ),
            Guard(
                name="grant_no_delete",
                operation=pgtrigger.Delete,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'Grant % cannot be deleted', OLD.id; RETURN NULL;",
            ),
            no_truncate("grant_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"{self.get_funder_display()} {self.reference} ({self.year})"

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class TxKind(models.TextChoices):
    RECEIPT = "receipt", _("Inbetalning")
    ALLOCATION = "allocation", _("Fördelning")
    PAYOUT = "payout", _("Utbetalning")
    REVERSAL = "reversal", _("Rättelse")
    CARRY_OVER = "carry_over", _("Överföring till senare år")
    REPAYMENT = "repayment", _("Återbetalning")


class PayoutCategory(models.TextChoices):
    PROGRAMME_VARIABLE = "programme_variable", _("Rörlig ersättning (2 500 kr-besök)")
    FIXED = "fixed", _("Fast ersättning")
    PARTNER_TRANSFER = "partner_transfer", _("Överföring till samverkanspart")
    COORDINATION = "coordination", _("Egen samordning")


class RecipientType(models.TextChoices):
    CENTRE = "centre", _("BVC")
    PARTNER = "partner", _("Samverkanspart")
    ORGANISATION = "organisation", _("Organisationen")


# Double entry, held by the database: checked at commit (a deferred constraint trigger), so a raw
# SQL insert cannot leave a transaction unbalanced either.
BALANCE_CHECK = """
    EXECUTE format(
        'SELECT count(*), coalesce(sum(amount), 0) FROM %I.funding_ledgerleg'
        ' WHERE transaction_id = $1',
        TG_TABLE_SCHEMA
    ) INTO legs, total USING {tx};
    IF legs < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'Unbalanced ledger transaction %: % legs summing to %', {tx}, legs, total;
    END IF;
    RETURN NULL;
"""
BALANCE_DECLARE = [("legs", "integer"), ("total", "numeric")]


class LedgerTransactionQuerySet(models.QuerySet["LedgerTransaction"]):
    def with_legs(self) -> LedgerTransactionQuerySet:
        """With the author and the legs (in id order): what a ledger row shows, in two queries
        whatever the number of rows."""
        return self.select_related("created_by").prefetch_related(
            models.Prefetch("legs", queryset=LedgerLeg.objects.order_by("id"))
        )


class LedgerTransaction(models.Model):
    """One money movement or commitment on one grant. Its legs sum to zero (a deferred
    constraint trigger checks at commit) and neither it nor its legs can be changed or deleted:
    a mistake is corrected by a reversing transaction."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=20, choices=TxKind.choices)
    category = models.CharField(max_length=30, choices=PayoutCategory.choices, blank=True)
    date = models.DateField()
    recipient_type = models.CharField(max_length=20, choices=RecipientType.choices, blank=True)
    recipient_id = models.UUIDField(null=True, blank=True)
    reference = models.CharField(max_length=200, blank=True)
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The top-level database transaction that inserted the row, stamped by the database
    # (txid_current() is the top-level id inside savepoints too): legs are accepted only from it.
    created_txid = models.BigIntegerField(
        editable=False,
        db_default=models.Func(function="txid_current", output_field=models.BigIntegerField()),
    )

    objects = LedgerTransactionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("transaktion")
        verbose_name_plural = _("transaktioner")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="payout") | ~Q(category=""), name="funding_tx_payout_category"
            ),
            models.CheckConstraint(
                condition=Q(kind="reversal", reverses__isnull=False)
                | (~Q(kind="reversal") & Q(reverses__isnull=True)),
                name="funding_tx_reversal_reverses",
            ),
        ]
        indexes = [models.Index(fields=["grant", "created_at"], name="funding_tx_grant_idx")]
        triggers = [
            GuardProtect(
                name="ledger_tx_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
            ),
            # Whatever the INSERT says: a forged id would let legs be added later.
            Guard(
                name="ledger_tx_stamp_txid",
                operation=pgtrigger.Insert,
                when=pgtrigger.Before,
                func="NEW.created_txid := pg_catalog.txid_current(); RETURN NEW;",
            ),
            # At commit: every transaction has legs, and they sum to zero.
            Guard(
                name="ledger_tx_balanced",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                timing=pgtrigger.Deferred,
                func=BALANCE_CHECK.format(tx="NEW.id"),
                declare=BALANCE_DECLARE,
            ),
            no_truncate("ledger_tx_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"


class Account(models.TextChoices):
    """The accounts of one grant. Cash: `funder` (what the funder gave, negative), `balance`
    (what is left), `paid` (payouts, by category and recipient), `carried_over`, `repaid`.
    Commitments, apart from cash: `unallocated` and `allocated` (by recipient)."""

    FUNDER = "funder"
    BALANCE = "balance"
    PAID = "paid"
    CARRIED_OVER = "carried_over"
    REPAID = "repaid"
    UNALLOCATED = "unallocated"
    ALLOCATED = "allocated"


class LedgerLeg(models.Model):
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="legs"
    )
    account = models.CharField(max_length=20, choices=Account.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("kontering")
        verbose_name_plural = _("konteringar")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="funding_leg_not_zero"),
            models.CheckConstraint(
                condition=Q(account__in=Account.values), name="funding_leg_account_known"
            ),
        ]
        indexes = [models.Index(fields=["transaction", "account"], name="funding_leg_tx_idx")]
        triggers = [
            GuardProtect(
                name="ledger_leg_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
            ),
            # A committed transaction is complete: balanced legs appended later would pass the
            # balance check but change the grant's history.
            Guard(
                name="ledger_leg_only_with_its_transaction",
                operation=pgtrigger.Insert,
                when=pgtrigger.Before,
                func="""
                    EXECUTE format(
                        'SELECT created_txid FROM %I.funding_ledgertransaction WHERE id = $1',
                        TG_TABLE_SCHEMA
                    ) INTO inserted_in USING NEW.transaction_id;
                    IF inserted_in IS DISTINCT FROM pg_catalog.txid_current() THEN
                        RAISE EXCEPTION 'Ledger transaction % is committed: no legs may be added',
                            NEW.transaction_id;
                    END IF;
                    RETURN NEW;
                """,
                declare=[("inserted_in", "bigint")],
            ),
            Guard(
                name="ledger_leg_balanced",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                timing=pgtrigger.Deferred,
                func=BALANCE_CHECK.format(tx="NEW.transaction_id"),
                declare=BALANCE_DECLARE,
            ),
            no_truncate("ledger_leg_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.amount}"


# --- Compensation (DOMAIN.md 4.1; API.md "Visits" and "compensation") -------------------------
class CompensationType(models.TextChoices):
    PROGRAMME_VARIABLE = "programme_variable", _("Rörlig ersättning från programmet")
    ORDINARY = "ordinary", _("Ordinarie ersättning")
    NONE = "none", _("Ingen ersättning")


# Who reads an organisation's rates: the roles that set, pay or sign what they price. Who adds
# them: CBHV and the organisation's administrators (API.md "Rates are data").
RATE_READERS = (Role.CBHV, Role.FINANCE, Role.ADMIN, Role.CENTRE_MANAGER)
RATE_WRITERS = (Role.CBHV, Role.ADMIN)


class CompensationRuleQuerySet(models.QuerySet["CompensationRule"]):
    def in_force(self, organisation_id: uuid.UUID, day: datetime.date) -> CompensationRule | None:
        """The version in force on `day`: the latest `valid_from` on or before it."""
        return (
            self.filter(organisation_id=organisation_id, valid_from__lte=day)
            .order_by("-valid_from")
            .first()
        )

    def for_user(self, user: User | AnonymousUser) -> CompensationRuleQuerySet:
        """The rules of the organisations where the user reads rates (`RATE_READERS`)."""
        return self.filter(organisation_id__in=scope_of(user).organisation_ids(*RATE_READERS))

    def rules_for(
        self, *, organisation_id: uuid.UUID | None = None, year: int | None = None
    ) -> CompensationRuleQuerySet:
        """The rules, each annotated with `next_valid_from` (the start of its organisation's
        next rule, or None; `CompensationRule.valid_to` reads it), in one query.
        `organisation_id`: that organisation's only. `year`: the rules in force on at least one
        day of that year (starting on or before its last day, and not ended before its first)."""
        following = (
            CompensationRule.objects.filter(
                organisation_id=models.OuterRef("organisation_id"),
                valid_from__gt=models.OuterRef("valid_from"),
            )
            .order_by("valid_from")
            .values("valid_from")[:1]
        )
        rules = self.annotate(next_valid_from=models.Subquery(following)).select_related(
            "organisation", "created_by"
        )
        if organisation_id is not None:
            rules = rules.filter(organisation_id=organisation_id)
        if year is not None:
            first, last = year_bounds(year)
            rules = rules.filter(valid_from__lte=last).filter(
                Q(next_valid_from__isnull=True) | Q(next_valid_from__gt=first)
            )
        return rules


class CompensationRule(models.Model):
    """An organisation's per-visit rates from a date on (seed 004: 2 500 / 1 800 kr)."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="compensation_rules",
        verbose_name=_("organisation"),
    )
    valid_from = models.DateField(_("gäller från"))
    programme_variable = models.DecimalField(
        _("rörlig ersättning (hembesök med socialtjänsten)"), max_digits=10, decimal_places=2
    )
    ordinary = models.DecimalField(_("ordinarie ersättning"), max_digits=10, decimal_places=2)
    created_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CompensationRuleQuerySet.as_manager()

    class Meta:
        ordering = ["organisation", "-valid_from"]
        verbose_name = _("ersättningsregel")
        verbose_name_plural = _("ersättningsregler")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "valid_from"], name="funding_comp_rule_unique_from"
            ),
            models.CheckConstraint(
                condition=Q(programme_variable__gte=0) & Q(ordinary__gte=0),
                name="funding_comp_rule_not_negative",
            ),
        ]
        triggers = [no_truncate("comp_rule_no_truncate")]

    def __str__(self) -> str:
        return f"{self.organisation} från {self.valid_from}"

    @property
    def valid_to(self) -> datetime.date | None:
        """The rule's last day: the day before the organisation's next rule starts (None while
        none does). Read from `rules_for()`'s annotation."""
        following: datetime.date | None = getattr(self, "next_valid_from", None)
        return following - datetime.timedelta(days=1) if following is not None else None

    def in_force_on(self, day: datetime.date) -> bool:
        end = self.valid_to
        return self.valid_from <= day and (end is None or day <= end)


class VisitCompensation(models.Model):
    """What one visit earns, recomputed whenever the visit or what decides it changes.

    `month`, `type` and `amount` follow the visit as it is. `pv_month`/`pv_amount` are the
    programme-variable amount counted in a month's statement: frozen once that month is paid
    (a paid month's programme_variable never changes); later differences are adjustments.
    """

    visit = models.OneToOneField(
        "visits.Visit", on_delete=models.CASCADE, related_name="compensation", primary_key=True
    )
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="+")
    month = models.DateField(_("månad"))
    type = models.CharField(_("typ"), max_length=20, choices=CompensationType.choices)
    amount = models.DecimalField(_("belopp"), max_digits=10, decimal_places=2)
    rule = models.ForeignKey(
        CompensationRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pv_month = models.DateField()
    pv_amount = models.DecimalField(max_digits=10, decimal_places=2)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("besöksersättning")
        verbose_name_plural = _("besöksersättningar")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="funding_visit_comp_amount"),
            models.CheckConstraint(
                condition=~Q(type="none") | Q(amount=0), name="funding_visit_comp_none_is_zero"
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="funding_visit_comp_month"),
        ]
        indexes = [
            models.Index(fields=["centre", "month"], name="funding_vcomp_centre_month"),
            models.Index(fields=["centre", "pv_month"], name="funding_vcomp_centre_pvmonth"),
        ]
        # Rows follow their visit (updated, deleted with it); only emptying the table is refused.
        triggers = [no_truncate("visit_comp_no_truncate")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.type} {self.amount}"


class PaidMonthQuerySet(models.QuerySet["PaidMonth"]):
    def locked(self) -> PaidMonthQuerySet:
        """The locks that stand: the month payment paid the centre nothing, or its payout to
        the centre is not reversed."""
        return self.filter(Q(payout__isnull=True) | Q(payout__reversed_by__isnull=True))


class PaidMonth(models.Model):
    """A centre's month, paid and locked by a month payment (API.md "Locked months"), one row
    per centre of the organisation whose month was open, also those paid nothing.

    Append-only: the lock stands until the payment's payout to the centre is reversed; the
    reversal reopens that centre's month (API.md "Money at the edges") without touching this
    row, and paying the month again adds a new one. The database refuses a second standing
    lock on one centre-month."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="+")
    month = models.DateField(_("månad"))
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="paid_months")
    payout = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="paid_month",
    )
    paid_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    paid_at = models.DateTimeField(auto_now_add=True)

    objects = PaidMonthQuerySet.as_manager()

    class Meta:
        ordering = ["organisation", "month", "centre"]
        verbose_name = _("betald månad")
        verbose_name_plural = _("betalda månader")
        indexes = [
            models.Index(fields=["organisation", "month"], name="funding_paid_month_org_idx"),
            models.Index(fields=["centre", "month"], name="funding_paid_month_centre_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="funding_paid_month_first"),
        ]
        triggers = [
            Guard(
                name="paid_month_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'Paid month % is locked: it cannot be changed or removed',"
                " OLD.id; RETURN NULL;",
            ),
            Guard(
                name="paid_month_one_standing_lock",
                operation=pgtrigger.Insert,
                when=pgtrigger.Before,
                func="""
                    EXECUTE format(
                        'SELECT count(*) FROM %1$I.funding_paidmonth pm'
                        ' LEFT JOIN %1$I.funding_ledgertransaction r'
                        '   ON r.reverses_id = pm.payout_id'
                        ' WHERE pm.centre_id = $1 AND pm.month = $2'
                        '   AND (pm.payout_id IS NULL OR r.id IS NULL)',
                        TG_TABLE_SCHEMA
                    ) INTO standing USING NEW.centre_id, NEW.month;
                    IF standing > 0 THEN
                        RAISE EXCEPTION 'Centre % has already paid month %', NEW.centre_id,
                            NEW.month;
                    END IF;
                    RETURN NEW;
                """,
                declare=[("standing", "bigint")],
            ),
            no_truncate("paid_month_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"{self.centre} {self.month:%Y-%m}"


class CompensationAdjustment(models.Model):
    """A programme-variable difference booked in an open month (append-only): a change to a
    visit in a paid month, or a negative net moved on at payment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="+")
    month = models.DateField(_("bokförd i månad"))
    source_month = models.DateField(_("avser månad"))
    amount = models.DecimalField(_("belopp"), max_digits=10, decimal_places=2)
    visit = models.ForeignKey(
        "visits.Visit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="compensation_adjustments",
    )
    reason = models.CharField(_("orsak"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("justering")
        verbose_name_plural = _("justeringar")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="funding_comp_adj_not_zero"),
            models.CheckConstraint(condition=Q(month__day=1), name="funding_comp_adj_month"),
        ]
        indexes = [models.Index(fields=["centre", "month"], name="funding_compadj_centre_month")]
        triggers = [
            GuardProtect(
                name="comp_adjustment_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
            ),
            no_truncate("comp_adjustment_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.amount}"


# --- Partner agreements (issue: money 7; seeds 001 and 003) -----------------------------------
class AgreementCondition(models.TextChoices):
    NONE = "none", _("Inget villkor")
    GRANT_RECEIVED = "grant_received", _("Endast om bidraget har kommit in")


class PartnerAgreementQuerySet(models.QuerySet["PartnerAgreement"]):
    def for_user(self, user: User | AnonymousUser) -> PartnerAgreementQuerySet:
        """Finance and CBHV (read-only) of the organisation, like grants."""
        return self.filter(
            organisation_id__in=scope_of(user).organisation_ids(Role.FINANCE, Role.CBHV)
        )

    def covering(self, partner_id: uuid.UUID, year: int) -> PartnerAgreementQuerySet:
        return self.filter(partner_id=partner_id, year_from__lte=year, year_to__gte=year)


class PartnerAgreement(models.Model):
    """What an organisation has agreed to pay a partner that is not a centre, per year
    (Folktandvården in Örebro; Leanlink for Linköpings kommun, 700 tkr a year 2021–2022 "under
    the condition that the state grant is received", seed 003). Paid through the ledger: an
    allocation to the partner, then `partner_transfer` payouts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="partner_agreements"
    )
    partner = models.ForeignKey(
        "core.Partner",
        on_delete=models.PROTECT,
        related_name="agreements",
        verbose_name=_("samverkanspart"),
    )
    title = models.CharField(_("överenskommelse"), max_length=200)
    year_from = models.PositiveIntegerField(_("från år"))
    year_to = models.PositiveIntegerField(_("till och med år"))
    yearly_amount = models.DecimalField(_("belopp per år"), max_digits=14, decimal_places=2)
    condition = models.CharField(
        _("villkor"),
        max_length=20,
        choices=AgreementCondition.choices,
        default=AgreementCondition.NONE,
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PartnerAgreementQuerySet.as_manager()

    class Meta:
        ordering = ["organisation", "partner", "year_from"]
        verbose_name = _("överenskommelse med samverkanspart")
        verbose_name_plural = _("överenskommelser med samverkansparter")
        constraints = [
            models.CheckConstraint(
                condition=Q(yearly_amount__gt=0), name="funding_agreement_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(year_to__gte=models.F("year_from")), name="funding_agreement_years"
            ),
        ]
        triggers = [no_truncate("partner_agreement_no_truncate")]

    def __str__(self) -> str:
        return f"{self.title} ({self.year_from}–{self.year_to})"
