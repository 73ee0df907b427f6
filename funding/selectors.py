"""Read-side queries for the funding app.

Selectors take the acting user as the keyword ``user=`` when the answer
depends on who is asking, and return QuerySets, model instances or plain
values; they never write.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db.models import Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from core.models import CENTRE_ROLES, Centre, Organisation, Partner, Role, User
from core.money import ZERO
from core.scoping import scope_of
from funding import compensation, ledger
from funding.models import (
    RATE_WRITERS,
    Account,
    Application,
    ApplicationQuerySet,
    ApplicationStatus,
    ApplicationTransition,
    CniValue,
    FixedCompensationScheme,
    Grant,
    LedgerTransaction,
    LedgerTransactionQuerySet,
    PaidMonth,
    PartnerAgreement,
    PartnerAgreementQuerySet,
    RecipientType,
    TransitionKind,
)
from visits.models import TemplateSlot

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

# Who may set the scheme and import CNI values.
SCHEME_ROLES = (Role.CBHV, Role.ADMIN)


# --- The scheme in force and eligibility (DOMAIN.md 4.2, seed 004) --------------------------------
def scheme_in_force(*, organisation_id: uuid.UUID, year: int) -> FixedCompensationScheme:
    """The organisation's scheme for `year` (a year without its own uses the latest earlier
    one). Without any scheme the defaults of seed 004 apply, unsaved. Many organisations or
    years at once: `FixedCompensationScheme.objects.in_force_lookup()`, the same rule."""
    lookup = FixedCompensationScheme.objects.in_force_lookup([organisation_id])
    return lookup.scheme(organisation_id, year)


@dataclass(frozen=True)
class Eligibility:
    """Whether a centre may apply for fixed compensation for `year`: only when its current child
    CNI is above the threshold of its organisation's scheme in force for the year (seed 004).
    Submission, every page and the API read `eligible` from here and nowhere else."""

    year: int
    cni: CniValue | None
    threshold: Decimal

    @property
    def eligible(self) -> bool:
        # "Above": a centre exactly at the threshold may not apply.
        return self.cni is not None and self.cni.value > self.threshold

    @property
    def reason(self) -> str:
        if self.cni is None:
            return _("BVC:n har inget barn-CNI registrerat; tröskeln är %(t)s.") % {
                "t": number_format(self.threshold, 2)
            }
        return _("BVC:ns barn-CNI är %(cni)s; det måste vara över %(t)s.") % {
            "cni": number_format(self.cni.value, 2),
            "t": number_format(self.threshold, 2),
        }


class EligibilityLookup:
    """The eligibility of many centres, for any years, in two queries: the centres' current
    child CNI and their organisations' schemes."""

    def __init__(self, centres: Iterable[Centre]) -> None:
        centres = list(centres)
        self._cni = {
            value.centre_id: value
            for value in CniValue.objects.current_for([c.pk for c in centres])
        }
        self._schemes = FixedCompensationScheme.objects.in_force_lookup(
            {c.organisation_id for c in centres}
        )

    def current_cni(self, centre: Centre) -> CniValue | None:
        return self._cni.get(centre.pk)

    def of(self, centre: Centre, year: int) -> Eligibility:
        return Eligibility(
            year=year,
            cni=self._cni.get(centre.pk),
            threshold=self._schemes.threshold(centre.organisation_id, year),
        )


def centre_eligibility(centre: Centre, year: int) -> Eligibility:
    return EligibilityLookup([centre]).of(centre, year)


# --- Centres --------------------------------------------------------------------------------------
def centres_for(*, user: User) -> QuerySet[Centre]:
    """The centres of the user's organisations (figures only: everyone there sees them)."""
    return Centre.objects.for_user(user).select_related("organisation")


def centres_staffed_by(*, user: User) -> QuerySet[Centre]:
    """The centres where the user is a nurse or the centre manager: those she applies for."""
    return Centre.objects.filter(pk__in=scope_of(user).centre_ids(*CENTRE_ROLES))


def is_centre_staff(*, user: User, centre_id: uuid.UUID) -> bool:
    """A nurse or the manager of the centre: only they draft, change, submit and withdraw its
    applications (a nurse who is also CBHV acts for her own centre only)."""
    return centre_id in scope_of(user).centre_ids(*CENTRE_ROLES)


@dataclass(frozen=True)
class CentreRow:
    """A centre with its current child CNI, its eligibility and its application for a year."""

    centre: Centre
    eligibility: Eligibility
    application: Application | None

    @property
    def cni(self) -> CniValue | None:
        return self.eligibility.cni

    @property
    def threshold(self) -> Decimal:
        return self.eligibility.threshold

    @property
    def eligible(self) -> bool:
        return self.eligibility.eligible

    # The API's names (API.md, "Centres and reference data").
    @property
    def year(self) -> int:
        return self.eligibility.year

    @property
    def child_cni(self) -> Decimal | None:
        return self.cni.value if self.cni is not None else None

    @property
    def cni_reference_date(self) -> datetime.date | None:
        return self.cni.reference_date if self.cni is not None else None

    @property
    def listed_children(self) -> int | None:
        return self.cni.listed_children if self.cni is not None else None

    @property
    def fixed_threshold(self) -> Decimal:
        return self.threshold

    @property
    def eligible_for_fixed(self) -> bool:
        return self.eligible

    @property
    def fixed_compensation(self) -> bool:
        """API.md: the centre's application for the year is approved and not withdrawn."""
        return self._approved is not None

    @property
    def fixed_from(self) -> datetime.date | None:
        return self._approved.effective_from if self._approved is not None else None

    @property
    def _approved(self) -> Application | None:
        a = self.application
        return a if a is not None and a.status == ApplicationStatus.APPROVED else None


def centre_rows(centres: Iterable[Centre], *, year: int) -> list[CentreRow]:
    """Each centre with its child CNI, eligibility and application for `year`: three queries
    whatever the number of centres."""
    centres = list(centres)
    eligibility = EligibilityLookup(centres)
    applications = {
        a.centre_id: a
        for a in Application.objects.filter(centre__in=centres, year=year).only(
            "id", "centre_id", "status", "effective_from", "withdrawn_on"
        )
    }
    return [
        CentreRow(centre, eligibility.of(centre, year), applications.get(centre.pk))
        for centre in centres
    ]


def applications_of_centre(*, user: User, centre: Centre) -> list[Application]:
    """The centre's applications, latest year first. Its page shows their status to everyone
    in the organisation; `readable` says whether the user may open the application itself
    (`Application.objects.for_user()`, the same rule as every application page)."""
    readable = Application.objects.for_user(user).filter(pk=OuterRef("pk"))
    return list(
        Application.objects.filter(centre=centre)
        .annotate(readable=Exists(readable))
        .order_by("-year")
    )


def years_applied(*, centre: Centre) -> set[int]:
    return set(Application.objects.filter(centre=centre).values_list("year", flat=True))


def cni_history(*, centre: Centre) -> list[CniValue]:
    """Every CNI value of the centre, newest first."""
    return list(
        CniValue.objects.filter(centre=centre)
        .select_related("created_by")
        .order_by("-reference_date", "-created_at")
    )


# --- The scheme and CNI import (CBHV, admins) -----------------------------------------------------
def scheme_organisations(*, user: User) -> QuerySet[Organisation]:
    """The organisations whose scheme and CNI values the user sets."""
    return Organisation.objects.filter(pk__in=scope_of(user).organisation_ids(*SCHEME_ROLES))


def schemes_for(*, user: User) -> list[FixedCompensationScheme]:
    """The stored schemes of those organisations, by organisation, latest year first."""
    return list(
        FixedCompensationScheme.objects.filter(organisation__in=scheme_organisations(user=user))
        .select_related("organisation", "updated_by")
        .order_by("organisation__name", "-from_year")
    )


# --- The plan -------------------------------------------------------------------------------------
def programme_slots(*, organisation_id: uuid.UUID) -> list[tuple[str, str]]:
    """The slots of the organisation's current programme templates, in age order (a plan for
    part of the programme names some of them)."""
    slots = TemplateSlot.objects.filter(
        template__organisation_id=organisation_id, template__superseded_by__isnull=True
    ).order_by("target_age_days", "key")
    seen: dict[str, str] = {}
    for key, label in slots.values_list("key", "label"):
        seen.setdefault(key, label)
    return list(seen.items())


# --- Who sees and acts on an application (API.md) -------------------------------------------------
def applications_for(*, user: User | AnonymousUser) -> ApplicationQuerySet:
    """The applications the user reads: her centre's, or all of her organisation's for CBHV,
    finance and admins."""
    return Application.objects.for_user(user)


def _own_applications(user: User) -> ApplicationQuerySet:
    """API.md: one's own application is one of a centre one is a member of, or one that one
    drafted or submitted. A resubmission overwrites `submitted_by`: every earlier drafter and
    submitter in the history counts too."""
    by_user = ApplicationTransition.objects.filter(
        application=OuterRef("pk"),
        by_id=user.pk,
        kind__in=[TransitionKind.CREATED, TransitionKind.SUBMITTED, TransitionKind.RESUBMITTED],
    )
    return Application.objects.filter(
        Q(centre_id__in=scope_of(user).centre_ids(*CENTRE_ROLES))
        | Q(created_by_id=user.pk)
        | Q(submitted_by_id=user.pk)
        | Q(Exists(by_user))
    )


def is_own_application(*, user: User, application: Application) -> bool:
    """Whether deciding on `application` would be deciding one's own (read from the stored row,
    so a resubmission by someone else meanwhile is seen)."""
    return _own_applications(user).filter(pk=application.pk).exists()


def is_decider_of(*, user: User, application: Application) -> bool:
    """CBHV of the application's organisation (only they decide)."""
    return scope_of(user).has_role_in(Role.CBHV, organisation_id=application.centre.organisation_id)


def may_decide(*, user: User, application: Application) -> bool:
    """CBHV of the organisation, and never on one's own application. The state is not looked
    at: a decision on an application that is not submitted is a conflict, not a permission."""
    return is_decider_of(user=user, application=application) and not is_own_application(
        user=user, application=application
    )


def applications_to_decide(*, user: User) -> ApplicationQuerySet:
    """The submitted applications of the organisations where the user is CBHV, oldest first
    (her own among them: shown to her, never decided by her)."""
    return Application.objects.filter(
        status=ApplicationStatus.SUBMITTED,
        centre__organisation_id__in=scope_of(user).organisation_ids(Role.CBHV),
    ).order_by("submitted_at", "centre__name")


def inbox_applications(*, user: User) -> list[Application]:
    """`applications_to_decide()` with what the inbox shows of each: the centre, the submitter,
    the history and `is_own` (`is_own_application()` for each, in the same query); two
    queries whatever their number."""
    own = _own_applications(user).filter(pk=OuterRef("pk"))
    return list(
        applications_to_decide(user=user)
        .annotate(is_own=Exists(own))
        .select_related("centre__organisation", "submitted_by")
        .prefetch_related(
            Prefetch("transitions", queryset=ApplicationTransition.objects.select_related("by"))
        )
    )


DECISION_KINDS = (
    TransitionKind.CHANGES_REQUESTED,
    TransitionKind.APPROVED,
    TransitionKind.REJECTED,
)


def staff_applications(*, user: User, years: Iterable[int]) -> ApplicationQuerySet:
    """The applications of the user's own centres for `years`, each with CBHV's latest decision
    or request for changes (`last_kind`, `last_comment`, `last_at`, `last_by_*`): one query."""
    latest = ApplicationTransition.objects.filter(
        application=OuterRef("pk"), kind__in=DECISION_KINDS
    ).order_by("-at", "-id")
    return Application.objects.filter(
        centre_id__in=scope_of(user).centre_ids(*CENTRE_ROLES), year__in=list(years)
    ).annotate(
        last_kind=Subquery(latest.values("kind")[:1]),
        last_comment=Subquery(latest.values("comment")[:1]),
        last_at=Subquery(latest.values("at")[:1]),
        last_by_first=Subquery(latest.values("by__first_name")[:1]),
        last_by_last=Subquery(latest.values("by__last_name")[:1]),
        last_by_username=Subquery(latest.values("by__username")[:1]),
    )


# --- Fixed compensation on a date (API.md) --------------------------------------------------------
def centres_with_fixed_compensation(
    day: datetime.date, centre_ids: Iterable[object] | None = None
) -> set[object]:
    """Ids of the centres that have fixed compensation on `day` (one query)."""
    qs = Application.objects.fixed_on(day)
    if centre_ids is not None:
        qs = qs.filter(centre_id__in=list(centre_ids))
    return set(qs.values_list("centre_id", flat=True))


def has_fixed_compensation(centre: Centre, day: datetime.date) -> bool:
    return Application.objects.fixed_on(day).filter(centre=centre).exists()


# --- Money (grants, ledger, compensation) ---------------------------------------------------


def organisations_where(*, user: User, roles: Iterable[str]) -> QuerySet[Organisation]:
    """The organisations where the user holds one of `roles`, by name."""
    return Organisation.objects.filter(pk__in=scope_of(user).organisation_ids(*roles)).order_by(
        "name"
    )


# --- Grants (finance moves money; CBHV reads) -----------------------------------------------------
def grants_for(
    *,
    user: User | AnonymousUser,
    organisation_id: uuid.UUID | None = None,
    year: int | None = None,
    funder: str | None = None,
    status: str | None = None,
) -> QuerySet[Grant]:
    """The grants the user reads (`Grant.objects.for_user()`), with their ledger figures in the
    same query (`ledger.with_figures()`), narrowed by the list's filters: the page and the API
    list alike. `status`: "open" or "closed"."""
    grants = ledger.with_figures(Grant.objects.for_user(user)).select_related("organisation")
    if organisation_id is not None:
        grants = grants.filter(organisation_id=organisation_id)
    if year is not None:
        grants = grants.filter(year=year)
    if funder:
        grants = grants.filter(funder=funder)
    if status:
        grants = grants.filter(closed_at__isnull=status == "open")
    return grants


def grant_years(*, user: User) -> list[int]:
    """The years of the user's grants, latest first (the list's year filter)."""
    return sorted(set(Grant.objects.for_user(user).values_list("year", flat=True)), reverse=True)


def is_finance_of(*, user: User | AnonymousUser, of: Grant | PartnerAgreement) -> bool:
    """Whether the user moves money on the grant (or under the partner agreement): finance of
    its organisation. CBHV of it, and finance of another organisation who is CBHV here, only
    read it."""
    return scope_of(user).has_role_in(Role.FINANCE, organisation_id=of.organisation_id)


def payable_grants(*, user: User) -> QuerySet[Grant]:
    """The open grants a month may be paid from: finance's own, with their figures."""
    return (
        ledger.with_figures(Grant.objects.for_finance(user).open())
        .select_related("organisation")
        .order_by("-year", "funder", "reference")
    )


def grant_transactions(*, grant: Grant) -> LedgerTransactionQuerySet:
    """The grant's ledger rows with their legs, oldest first."""
    return LedgerTransaction.objects.filter(grant=grant).with_legs().order_by("created_at", "id")


def grant_recipients(
    *, grant: Grant, types: Iterable[str]
) -> dict[str, list[tuple[uuid.UUID, str]]]:
    """The grant organisation's recipients of each of `types`, (id, name) by name: what a form
    offers. Whether one may receive is the services' rule (`ledger.require_recipient()`)."""
    wanted = set(types)
    found: dict[str, list[tuple[uuid.UUID, str]]] = {}
    if RecipientType.CENTRE in wanted:
        found[RecipientType.CENTRE] = list(
            Centre.objects.filter(organisation_id=grant.organisation_id)
            .order_by("name")
            .values_list("pk", "name")
        )
    if RecipientType.PARTNER in wanted:
        found[RecipientType.PARTNER] = list(
            Partner.objects.filter(organisation_id=grant.organisation_id)
            .order_by("name")
            .values_list("pk", "name")
        )
    if RecipientType.ORGANISATION in wanted:
        found[RecipientType.ORGANISATION] = [(grant.organisation_id, grant.organisation.name)]
    return found


@dataclass(frozen=True)
class LedgerRow:
    tx: LedgerTransaction
    amount: Decimal  # API.md's signed amount (ledger.transaction_amount)
    balance_after: Decimal  # the grant's balance after this row
    recipient: str


def _recipient_names(grant: Grant, rows: list[LedgerTransaction]) -> dict[uuid.UUID, str]:
    """The recipients' names: one query per kind of recipient, whatever the number of rows."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for tx in rows:
        if tx.recipient_id is not None:
            wanted.setdefault(tx.recipient_type, set()).add(tx.recipient_id)
    names: dict[uuid.UUID, str] = {}
    if wanted.get(RecipientType.CENTRE):
        names.update(
            Centre.objects.filter(pk__in=wanted[RecipientType.CENTRE]).values_list("pk", "name")
        )
    if wanted.get(RecipientType.PARTNER):
        names.update(
            Partner.objects.filter(pk__in=wanted[RecipientType.PARTNER]).values_list("pk", "name")
        )
    names[grant.organisation_id] = grant.organisation.name
    return names


def grant_ledger_rows(*, grant: Grant) -> list[LedgerRow]:
    """Every row of the grant, oldest first, with the balance after it: a running sum of the
    `balance` legs over the rows of one query (the order of the API's ledger)."""
    transactions = list(grant_transactions(grant=grant))
    names = _recipient_names(grant, transactions)
    balance = ZERO
    rows = []
    for tx in transactions:
        balance += sum(
            (leg.amount for leg in tx.legs.all() if leg.account == Account.BALANCE), ZERO
        )
        rows.append(
            LedgerRow(
                tx=tx,
                amount=ledger.transaction_amount(tx),
                balance_after=balance,
                recipient=names.get(tx.recipient_id, "") if tx.recipient_id else "",
            )
        )
    return rows


# --- Partner agreements (finance writes, CBHV reads, like grants) ---------------------------------
def agreements_for(*, user: User | AnonymousUser) -> PartnerAgreementQuerySet:
    return PartnerAgreement.objects.for_user(user).select_related("partner")


def finance_partner(*, user: User, pk: uuid.UUID) -> Partner | None:
    """A partner of an organisation where the user is finance (she records its agreements)."""
    return Partner.objects.filter(
        pk=pk, organisation_id__in=scope_of(user).organisation_ids(Role.FINANCE)
    ).first()


# --- Compensation statements (API.md `GET /api/v1/compensation/`) ---------------------------------
# Finance and CBHV read every centre's statements of their organisation; a centre manager her own
# centre's. The page and the API both ask `statement_scopes()` / `statement_scope()`.
STATEMENT_READERS = (Role.FINANCE, Role.CBHV, Role.CENTRE_MANAGER)
WHOLE_ORGANISATION_READERS = (Role.FINANCE, Role.CBHV)


@dataclass(frozen=True)
class StatementScope:
    organisation: Organisation
    centre_id: uuid.UUID | None  # a centre manager's own centre; None: every centre


def statement_organisations(*, user: User) -> QuerySet[Organisation]:
    """The organisations whose every centre's statements the user reads, by name."""
    return organisations_where(user=user, roles=WHOLE_ORGANISATION_READERS)


def statement_scopes(*, user: User) -> list[StatementScope]:
    """Whose statements the user reads: each organisation where she is finance or CBHV (every
    centre, by name), then each centre she manages in another organisation (by name). Two
    queries at most."""
    whole = [StatementScope(org, None) for org in statement_organisations(user=user)]
    managed = (
        Centre.objects.filter(pk__in=scope_of(user).centre_ids(Role.CENTRE_MANAGER))
        .exclude(organisation_id__in=[s.organisation.pk for s in whole])
        .select_related("organisation")
        .order_by("name")
    )
    return whole + [StatementScope(centre.organisation, centre.pk) for centre in managed]


def sees_centre_statements(*, user: User, centre: Centre) -> bool:
    """The centre's statements are among the user's (`statement_scopes()`): she manages the
    centre, or is finance or CBHV of its organisation. No query (the scope is loaded)."""
    scope = scope_of(user)
    return scope.has_role_at(Role.CENTRE_MANAGER, centre_id=centre.pk) or any(
        scope.has_role_in(role, organisation_id=centre.organisation_id)
        for role in (Role.FINANCE, Role.CBHV)
    )


def statement_scope(
    *,
    user: User,
    organisation_id: uuid.UUID | None = None,
    centre_id: uuid.UUID | None = None,
) -> StatementScope:
    """The statements asked for, among `statement_scopes()`: the organisation (may be left out
    when the user reads one organisation only, or manages centres only) and a centre (may be
    left out except by the manager of several centres of one organisation). ValidationError on
    `organisation` or `centre` for anything else."""
    scopes = statement_scopes(user=user)
    whole = {s.organisation.pk: s for s in scopes if s.centre_id is None}
    managed = [s for s in scopes if s.centre_id is not None]
    if organisation_id is None:
        if len(whole) == 1:
            organisation_id = next(iter(whole))
        elif not whole and managed:
            organisation_id = managed[0].organisation.pk
        else:
            raise ValidationError({"organisation": [_("Ange organisation.")]})
    if organisation_id in whole:
        if (
            centre_id is not None
            and not Centre.objects.filter(pk=centre_id, organisation_id=organisation_id).exists()
        ):
            raise ValidationError({"centre": [_("BVC:n finns inte i organisationen.")]})
        return StatementScope(whole[organisation_id].organisation, centre_id)
    mine = [s for s in managed if s.organisation.pk == organisation_id]
    if not mine:
        raise ValidationError({"organisation": [_("Organisationen finns inte.")]})
    if centre_id is None and len(mine) == 1:
        return mine[0]
    chosen = next((s for s in mine if s.centre_id == centre_id), None)
    if chosen is None:
        raise ValidationError({"centre": [_("Ange din egen BVC.")]})
    return chosen


def statement_rows(
    *, where: StatementScope, year: int, month: int | None = None
) -> tuple[list[compensation.StatementRow], list[compensation.StatementRow]]:
    """The statements of `where` for the year (or one month of it), and the year's adjustments
    settled in the next year (API.md "The year boundary")."""
    return (
        compensation.statements(where.organisation, year, month, where.centre_id),
        compensation.settled_next_year(where.organisation, year, month, where.centre_id),
    )


def months_to_pay(*, user: User) -> list[datetime.date]:
    """The months over and open at finance's organisation (`compensation.payable_months()`);
    none listed for finance of several organisations, who chooses the grant first."""
    organisations = scope_of(user).organisation_ids(Role.FINANCE)
    if len(organisations) != 1:
        return []
    return compensation.payable_months(next(iter(organisations)))


# --- Rates (API.md "Rates are data") --------------------------------------------------------------
def rate_organisations(*, user: User) -> QuerySet[Organisation]:
    """The organisations whose rates the user adds (CBHV and administrators), by name."""
    return organisations_where(user=user, roles=RATE_WRITERS)


def earliest_rule_dates(
    *, organisations: Iterable[Organisation]
) -> list[tuple[Organisation, datetime.date]]:
    """Per organisation with a paid month, the first day a new rule may start: the first of the
    month after its latest paid month (a rule never reaches back into a paid month)."""
    orgs = list(organisations)
    latest = dict(
        PaidMonth.objects.locked()
        .filter(organisation__in=orgs)
        .values("organisation")
        .annotate(latest=Max("month"))
        .values_list("organisation", "latest")
    )
    return [
        (org, compensation.next_month(latest[org.pk]))
        for org in orgs
        if latest.get(org.pk) is not None
    ]
