"""What the finance exports, the auditor bundle and the SIE file read (DOMAIN.md 4.3 and 5), as
plain rows: the ledger journal, allocations and the decisions behind them, the applications
behind fixed allocations, the grants' figures and the monthly compensation statements.
`reporting.exports` and `reporting.sie` only lay them out in files.

Money and aggregates only: no child, no identity number. Free text (references, purposes,
comments) is given as typed; the file writers mask anything shaped like an identity number.
Every function costs a fixed number of queries, whatever the ledger's length (names resolved in
one query per recipient type).
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from core.exceptions import Conflict
from core.models import Centre, Organisation, Partner
from core.money import ZERO
from funding import ledger
from funding.allocation import fixed_reference
from funding.compensation import StatementRow, statements
from funding.models import (
    Account,
    Application,
    ApplicationTransition,
    CniValue,
    Grant,
    LedgerLeg,
    LedgerTransaction,
    RecipientType,
    TxKind,
    Weighting,
)
from funding.selectors import scheme_in_force
from reporting.models import ReportRun
from reporting.subjects import GRANT_REPORT_KINDS


# --- The ledger -------------------------------------------------------------------------------
def ledger_transactions(grants: Iterable[Grant] | QuerySet[Grant]) -> QuerySet[LedgerTransaction]:
    """The grants' ledger rows, by grant reference and oldest first, with what a row shows
    (`ledger.transaction_amount()` reads the prefetched legs). The same shape as the ledger
    API's, plus the grant."""
    return (
        LedgerTransaction.objects.filter(grant__in=grants)
        .select_related("created_by", "grant")
        .prefetch_related(Prefetch("legs", queryset=LedgerLeg.objects.order_by("id")))
        .order_by("grant__reference", "grant_id", "created_at", "id")
    )


def recipient_names(pairs: Iterable[tuple[str, uuid.UUID | None]]) -> dict[uuid.UUID, str]:
    """The names of ledger recipients: one query per recipient type that occurs."""
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for recipient_type, recipient_id in pairs:
        if recipient_type and recipient_id is not None:
            wanted[recipient_type].add(recipient_id)
    models: dict[str, type[Centre] | type[Partner] | type[Organisation]] = {
        RecipientType.CENTRE: Centre,
        RecipientType.PARTNER: Partner,
        RecipientType.ORGANISATION: Organisation,
    }
    names: dict[uuid.UUID, str] = {}
    for recipient_type, ids in sorted(wanted.items()):
        model = models.get(recipient_type)
        if model is not None:
            names.update(model.objects.filter(pk__in=ids).values_list("pk", "name"))
    return names


@dataclass(frozen=True)
class JournalLine:
    """One ledger row as the journal shows it, numbered so that a reversal names the row it
    reverses without an internal id."""

    number: int
    grant: str  # the grant's reference
    date: datetime.date
    kind: str
    category: str | None
    recipient_type: str | None
    recipient: str | None
    # Money in or out of the grant (receipts positive) apart from commitments (allocations).
    movement: Decimal | None
    commitment: Decimal | None
    reference: str
    reverses: int | None
    created_by: str
    created_at: datetime.datetime


def journal(grants: Iterable[Grant] | QuerySet[Grant]) -> list[JournalLine]:
    """The grants' ledger rows as journal lines: amounts signed as API.md (receipts positive;
    payouts, carry-overs and repayments negative; allocations show their commitment)."""
    transactions = list(ledger_transactions(grants))
    names = recipient_names((tx.recipient_type, tx.recipient_id) for tx in transactions)
    number = {tx.pk: index for index, tx in enumerate(transactions, start=1)}
    lines = []
    for tx in transactions:
        movement, commitment = ledger.transaction_parts(tx)
        lines.append(
            JournalLine(
                number=number[tx.pk],
                grant=tx.grant.reference,
                date=tx.date,
                kind=tx.get_kind_display(),
                category=tx.get_category_display() if tx.category else None,
                recipient_type=tx.get_recipient_type_display() if tx.recipient_type else None,
                recipient=names.get(tx.recipient_id) if tx.recipient_id else None,
                movement=movement,
                commitment=commitment,
                reference=tx.reference,
                reverses=number.get(tx.reverses_id) if tx.reverses_id else None,
                created_by=tx.created_by.username,
                created_at=tx.created_at,
            )
        )
    return lines


# --- Allocations ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AllocationLine:
    """Per grant and recipient: what is allocated (net of reversals) and what has been paid
    against it (fixed compensation and partner transfers, as the ledger bounds them)."""

    grant: str
    recipient_type: str
    recipient: str | None
    purposes: list[str]
    allocated: Decimal
    paid: Decimal

    @property
    def left(self) -> Decimal:
        return self.allocated - self.paid


def allocation_lines(grants: Iterable[Grant] | QuerySet[Grant]) -> list[AllocationLine]:
    grant_list = list(grants)
    references = {grant.pk: grant.reference for grant in grant_list}
    allocations = (
        LedgerTransaction.objects.filter(grant__in=grant_list, kind=TxKind.ALLOCATION)
        .order_by("created_at", "id")
        .values_list("grant_id", "recipient_type", "recipient_id", "reference")
    )
    purposes: dict[tuple[uuid.UUID, str, uuid.UUID], list[str]] = {}
    for grant_id, recipient_type, recipient_id, reference in allocations:
        if recipient_id is None:  # an allocation always has a recipient
            continue
        found = purposes.setdefault((grant_id, recipient_type, recipient_id), [])
        if reference and reference not in found:
            found.append(reference)
    sums = (
        LedgerLeg.objects.filter(
            transaction__grant__in=grant_list,
            transaction__recipient_id__isnull=False,
            account__in=[Account.ALLOCATED, Account.PAID],
        )
        .values_list(
            "transaction__grant_id", "transaction__recipient_type", "transaction__recipient_id"
        )
        .annotate(
            allocated=Coalesce(Sum("amount", filter=Q(account=Account.ALLOCATED)), ZERO),
            paid=Coalesce(
                Sum(
                    "amount",
                    filter=Q(
                        account=Account.PAID,
                        transaction__category__in=list(ledger.ALLOCATION_BOUND),
                    ),
                ),
                ZERO,
            ),
        )
    )
    figures = {(g, t, r): (allocated, paid) for g, t, r, allocated, paid in sums}
    names = recipient_names((t, r) for _g, t, r in purposes)
    keys = sorted(
        purposes,
        key=lambda k: (references[k[0]], str(k[0]), k[1], names.get(k[2], ""), str(k[2])),
    )
    lines = []
    for key in keys:
        grant_id, recipient_type, recipient_id = key
        allocated, paid = figures.get(key, (ZERO, ZERO))
        lines.append(
            AllocationLine(
                grant=references[grant_id],
                recipient_type=str(RecipientType(recipient_type).label),
                recipient=names.get(recipient_id),
                purposes=purposes[key],
                allocated=allocated,
                paid=paid,
            )
        )
    return lines


def _fixed_years(grant: Grant) -> dict[str, int]:
    """Purpose → year of the fixed allocations that may sit on `grant` (`Fast ersättning
    <year>`): the grant's own year and its neighbours (a pool may be posted for another year)."""
    return {fixed_reference(year): year for year in (grant.year - 1, grant.year, grant.year + 1)}


@dataclass(frozen=True)
class AllocationDecision:
    """An allocation of a grant (or a reversal of one), as decided. A fixed allocation also
    carries what decided its amount: the centre's child CNI and listed children 0–5 as they
    stood when it was posted, and the weight under the year's weighting (None when the scheme
    was changed after the posting, so the weighting then is not known)."""

    number: int
    date: datetime.date
    kind: str
    recipient_type: str | None
    recipient: str | None
    reference: str
    amount: Decimal
    reverses: int | None
    fixed_year: int | None
    cni: CniValue | None
    weighting: str | None
    weight: Decimal | None
    created_by: str
    created_at: datetime.datetime


def allocation_decisions(grant: Grant) -> list[AllocationDecision]:
    transactions = list(
        LedgerTransaction.objects.filter(grant=grant)
        .filter(
            Q(kind=TxKind.ALLOCATION) | Q(kind=TxKind.REVERSAL, reverses__kind=TxKind.ALLOCATION)
        )
        .select_related("created_by", "reverses")
        .prefetch_related(Prefetch("legs", queryset=LedgerLeg.objects.order_by("id")))
        .order_by("created_at", "id")
    )
    names = recipient_names((tx.recipient_type, tx.recipient_id) for tx in transactions)
    number = {tx.pk: index for index, tx in enumerate(transactions, start=1)}
    fixed_years = _fixed_years(grant)

    def fixed_year(tx: LedgerTransaction) -> int | None:
        original = tx.reverses if tx.kind == TxKind.REVERSAL and tx.reverses else tx
        if original.recipient_type != RecipientType.CENTRE:
            return None
        return fixed_years.get(original.reference)

    fixed_centres = {
        tx.recipient_id
        for tx in transactions
        if tx.recipient_id is not None and fixed_year(tx) is not None
    }
    cni_values: dict[uuid.UUID, list[CniValue]] = defaultdict(list)
    for value in CniValue.objects.child_cni().filter(centre_id__in=fixed_centres):
        cni_values[value.centre_id].append(value)
    years = sorted({year for tx in transactions if (year := fixed_year(tx)) is not None})
    schemes = {
        year: scheme_in_force(organisation_id=grant.organisation_id, year=year) for year in years
    }

    def cni_at(centre_id: uuid.UUID, moment: datetime.datetime) -> CniValue | None:
        # What `CniValue.objects.current_for()` answered at `moment`.
        known = [v for v in cni_values.get(centre_id, []) if v.created_at <= moment]
        return max(known, key=lambda v: (v.reference_date, v.created_at), default=None)

    decisions = []
    for tx in transactions:
        year = fixed_year(tx)
        cni: CniValue | None = None
        weight: Decimal | None = None
        weighting: str | None = None
        if year is not None and tx.recipient_id is not None:
            posted = tx.reverses if tx.kind == TxKind.REVERSAL and tx.reverses else tx
            cni = cni_at(tx.recipient_id, posted.created_at)
            scheme = schemes[year]
            if cni is not None and (scheme.pk is None or scheme.updated_at <= posted.created_at):
                weighting = str(Weighting(scheme.weighting).label)
                if scheme.weighting == Weighting.CNI:
                    weight = cni.value
                elif cni.listed_children:
                    weight = cni.value * cni.listed_children
        decisions.append(
            AllocationDecision(
                number=number[tx.pk],
                date=tx.date,
                kind=tx.get_kind_display(),
                recipient_type=tx.get_recipient_type_display() if tx.recipient_type else None,
                recipient=names.get(tx.recipient_id) if tx.recipient_id else None,
                reference=tx.reference,
                amount=ledger.transaction_amount(tx),
                reverses=number.get(tx.reverses_id) if tx.reverses_id else None,
                fixed_year=year,
                cni=cni,
                weighting=weighting,
                weight=weight,
                created_by=tx.created_by.username,
                created_at=tx.created_at,
            )
        )
    return decisions


# --- The applications behind fixed allocations -------------------------------------------------
def fixed_applications(grant: Grant) -> QuerySet[Application]:
    """The applications behind the grant's fixed allocations: for each centre allocated fixed
    money, its application for the year the allocation was for."""
    fixed_years = _fixed_years(grant)
    pairs = set(
        LedgerTransaction.objects.filter(
            grant=grant,
            kind=TxKind.ALLOCATION,
            recipient_type=RecipientType.CENTRE,
            reference__in=list(fixed_years),
        ).values_list("recipient_id", "reference")
    )
    match = Q(pk__in=[])
    for centre_id, reference in sorted(pairs, key=str):
        match |= Q(centre_id=centre_id, year=fixed_years[reference])
    return Application.objects.filter(match)


@dataclass(frozen=True)
class ApplicationDecision:
    centre: str
    year: int
    status: str
    submitted_at: datetime.datetime | None
    decided_by: str | None
    decided_at: datetime.datetime | None
    effective_from: datetime.date | None
    withdrawn_on: datetime.date | None
    decision_comment: str


def application_decisions(applications: QuerySet[Application]) -> list[ApplicationDecision]:
    return [
        ApplicationDecision(
            centre=application.centre.name,
            year=application.year,
            status=application.get_status_display(),
            submitted_at=application.submitted_at,
            decided_by=application.decided_by.username if application.decided_by else None,
            decided_at=application.decided_at,
            effective_from=application.effective_from,
            withdrawn_on=application.withdrawn_on,
            decision_comment=application.decision_comment,
        )
        for application in applications.select_related("centre", "decided_by").order_by(
            "centre__name", "year", "id"
        )
    ]


@dataclass(frozen=True)
class ApplicationEvent:
    centre: str
    year: int
    kind: str
    by: str
    at: datetime.datetime
    comment: str


def application_events(applications: QuerySet[Application]) -> list[ApplicationEvent]:
    transitions = (
        ApplicationTransition.objects.filter(application__in=applications)
        .select_related("application__centre", "by")
        .order_by("application__centre__name", "application__year", "application_id", "at", "id")
    )
    return [
        ApplicationEvent(
            centre=event.application.centre.name,
            year=event.application.year,
            kind=event.get_kind_display(),
            by=event.by.username,
            at=event.at,
            comment=event.comment,
        )
        for event in transitions
    ]


# --- Grants -----------------------------------------------------------------------------------
def grants_of_year(organisation_id: uuid.UUID, year: int) -> list[Grant]:
    return list(Grant.objects.filter(organisation_id=organisation_id, year=year))


def run_grant(run: ReportRun) -> Grant | None:
    """The run's grant with its organisation (one query), or None for a run about none."""
    if run.grant_id is None:
        return None
    return Grant.objects.select_related("organisation").get(pk=run.grant_id)


def grant_figures(grant: Grant) -> ledger.GrantFigures:
    return ledger.figures(grant)


@dataclass(frozen=True)
class GrantLine:
    """A grant with its figures from the ledger (API.md `GET /api/v1/grants/{id}/`)."""

    reference: str
    funder: str
    year: int
    received_on: datetime.date
    use_by: datetime.date
    figures: ledger.GrantFigures = field(repr=False)


def grant_lines(grants: Iterable[Grant] | QuerySet[Grant]) -> list[GrantLine]:
    """One line per grant, by reference, with its figures (one query)."""
    ids = [grant.pk for grant in grants]
    return [
        GrantLine(
            reference=grant.reference,
            funder=grant.get_funder_display(),
            year=grant.year,
            received_on=grant.received_on,
            use_by=grant.use_by,
            figures=ledger.figures(grant),
        )
        for grant in ledger.with_figures(Grant.objects.filter(pk__in=ids)).order_by("reference")
    ]


def compensation_statements(organisation_id: uuid.UUID, year: int) -> list[StatementRow]:
    """The compensation statements per centre and month (API.md `GET /api/v1/compensation/`)."""
    return list(statements(organisation_id, year))


def submitted_report(grant: Grant) -> ReportRun:
    """The grant's submitted report (återrapportering or SKL final report), else Conflict: the
    auditor bundle holds it and cannot be made without it."""
    submitted = (
        ReportRun.objects.filter(
            grant=grant,
            organisation_id=grant.organisation_id,
            kind__in=list(GRANT_REPORT_KINDS),
            submitted_at__isnull=False,
        )
        .select_related("submitted_by")
        .order_by("-submitted_at")
        .first()
    )
    if submitted is None or not submitted.file_name:
        raise Conflict(
            _("Bidragets rapport måste vara inskickad innan revisionsunderlaget kan skapas.")
        )
    return submitted
