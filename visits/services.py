"""Writes for children, enrolments and visits. Pages and the API call these and nothing else.

Callers have checked the role and resolved ids within the user's scope; these functions hold
the domain rules (DOMAIN.md 1–3), write the access log, and raise ValidationError by field or
core.exceptions.Conflict for a state conflict. The journal import (visits.imports) classifies
its rows with `visit_check()` and saves them with `visit_log()`, exactly as a typed visit.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pghistory
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.dates import add_years
from core.exceptions import Conflict
from visits import extension
from visits.access_log import log_children
from visits.identity import IdentityType, normalise_identity
from visits.models import (
    ZV509,
    AccessAction,
    Child,
    Contact,
    Eligibility,
    EndReason,
    Enrolment,
    InterpreterMode,
    KvaCode,
    Participant,
    Programme,
    ProgrammeTemplate,
    TemplateSlot,
    Visit,
    VisitPlace,
    VisitStatus,
)

if TYPE_CHECKING:
    from core.models import Centre, User


# A child registered in the programme was born within this many years (issue 24, item 9).
CHILD_MAX_AGE_YEARS = 6


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _check_choices(values: Sequence[str], choices: Any, field_name: str) -> list[str]:
    allowed = set(choices.values)
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise ValidationError({field_name: [_("Okänt värde: %s.") % ", ".join(wrong)]})
    return _unique(values)


# --- Children ---------------------------------------------------------------------------------
def child_register(
    *,
    user: User,
    centre: Centre,
    identity_type: str,
    identity: str,
    birth_date: datetime.date | None = None,
    given_name: str = "",
    family_name: str = "",
) -> Child:
    """Register a child at `centre` (its current centre) in the centre's organisation."""
    today = timezone.localdate()
    parsed = normalise_identity(
        identity_type,
        identity,
        reserve_pattern=centre.organisation.reserve_number_pattern,
        today=today,
    )
    if parsed.type == IdentityType.RESERVNUMMER:
        if birth_date is None:
            raise ValidationError({"birth_date": [_("Ange födelsedatum för reservnummer.")]})
        if birth_date > today:
            raise ValidationError({"birth_date": [_("Födelsedatumet ligger i framtiden.")]})
        born = birth_date
    else:
        assert parsed.birth_date is not None
        if birth_date is not None and birth_date != parsed.birth_date:
            raise ValidationError({"birth_date": [_("Födelsedatumet stämmer inte med numret.")]})
        born = parsed.birth_date
    # The programme is for children up to school age: a birth date further back is a typing
    # error (or a parent's number), never a child to enrol.
    if born < add_years(today, -CHILD_MAX_AGE_YEARS):
        raise ValidationError(
            {
                ("birth_date" if birth_date is not None else "identity"): [
                    _("Barnet ska vara fött under de senaste %(years)s åren.")
                    % {"years": CHILD_MAX_AGE_YEARS}
                ]
            }
        )

    child = Child(
        organisation_id=centre.organisation_id,
        current_centre=centre,
        identity_type=parsed.type.value,
        identity=parsed.value,
        birth_date=born,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
    )
    child.fill_identity_key()
    child.full_clean(exclude=["organisation", "current_centre"], validate_unique=False)
    duplicate = _("Barnet är redan registrerat i organisationen.")
    try:
        with transaction.atomic(), pghistory.context(user=user.username):
            # A duplicate is found here, never by the unique index: PostgreSQL writes a
            # failed INSERT (its values, bound client-side) into its server log. Under the
            # lock a concurrent registration of the same number waits for this one's commit
            # and then finds its row.
            _lock_identity(organisation_id=centre.organisation_id, key=child.identity_key)
            existing = Child.objects.filter(
                organisation_id=centre.organisation_id, identity_key=child.identity_key
            ).first()
            if existing is not None:
                raise Conflict(duplicate, id=str(existing.pk))
            child.save()
            log_children(
                user=user, action=AccessAction.CREATE, entries=[(child, centre.pk)], what="child"
            )
    except IntegrityError as exc:  # a writer outside this service (its error holds the key)
        existing = Child.objects.filter(
            organisation_id=centre.organisation_id, identity_key=child.identity_key
        ).first()
        extra = {"id": str(existing.pk)} if existing else {}
        raise Conflict(duplicate, **extra) from exc
    return child


# pg_advisory_xact_lock(int, int) has its own key space (funding's month locks use the bigint
# form); the first key says "a child's identity", the second is the organisation and key.
_IDENTITY_LOCK_SPACE = 0x4B494431


def _lock_identity(*, organisation_id: uuid.UUID, key: str) -> None:
    """Serialise registrations of one identity in one organisation until the commit. Two
    identities sharing a lock number (one in 2**32) only wait for each other."""
    digest = hashlib.sha256(f"{organisation_id}:{key}".encode()).digest()
    number = int.from_bytes(digest[:4], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_IDENTITY_LOCK_SPACE, number])


def child_update(
    *,
    user: User,
    child: Child,
    given_name: str | None = None,
    family_name: str | None = None,
    protected: bool | None = None,
) -> Child:
    changed = []
    for name, value in (
        ("given_name", given_name),
        ("family_name", family_name),
        ("protected", protected),
    ):
        if value is not None and getattr(child, name) != value:
            setattr(child, name, value.strip() if isinstance(value, str) else value)
            changed.append(name)
    if changed:
        with transaction.atomic(), pghistory.context(user=user.username):
            child.save(update_fields=changed)
        log_children(
            user=user,
            action=AccessAction.UPDATE,
            entries=[(child, child.current_centre_id)],
            what="child",
        )
    return child


# --- Enrolments -------------------------------------------------------------------------------
def _clean_plan(
    template: ProgrammeTemplate, programme: str, planned_slots: Sequence[str]
) -> list[str]:
    if programme not in Programme.values:
        raise ValidationError({"programme": [_("Välj hela eller delar av programmet.")]})
    slots = _unique(planned_slots)
    if programme == Programme.FULL:
        if slots:
            raise ValidationError(
                {"planned_slots": [_("Planerade besök anges bara för delar av programmet.")]}
            )
        return []
    if not slots:
        raise ValidationError({"planned_slots": [_("Välj minst ett besök i programmet.")]})
    known = set(template.slots.values_list("key", flat=True))
    unknown = [s for s in slots if s not in known]
    if unknown:
        raise ValidationError(
            {"planned_slots": [_("Finns inte i programmallen: %s.") % ", ".join(unknown)]}
        )
    return slots


def _check_enrolment_dates(
    offered_on: datetime.date,
    accepted_on: datetime.date | None,
    declined_on: datetime.date | None,
    birth_date: datetime.date,
) -> None:
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    if offered_on > today:
        errors["offered_on"] = [_("Datumet ligger i framtiden.")]
    elif offered_on < birth_date - datetime.timedelta(days=280):
        errors["offered_on"] = [_("Datumet ligger långt före barnets födelse.")]
    for name, value in (("accepted_on", accepted_on), ("declined_on", declined_on)):
        if value is None:
            continue
        if value > today:
            errors[name] = [_("Datumet ligger i framtiden.")]
        elif value < offered_on:
            errors[name] = [_("Datumet ligger före erbjudandet.")]
    if accepted_on is not None and declined_on is not None:
        errors["declined_on"] = [_("En familj kan inte både tacka ja och nej.")]
    if errors:
        raise ValidationError(errors)


def enrolment_create(
    *,
    user: User,
    child: Child,
    centre: Centre,
    template: ProgrammeTemplate,
    offered_on: datetime.date,
    accepted_on: datetime.date | None = None,
    eligibility: Sequence[str] = (),
    programme: str = Programme.FULL,
    planned_slots: Sequence[str] = (),
    language: str = "",
    interpreter_needed: bool = False,
) -> Enrolment:
    if centre.pk != child.current_centre_id:
        raise ValidationError({"centre": [_("Barnet hör till en annan BVC.")]})
    if template.organisation_id != child.organisation_id:
        raise ValidationError({"template": [_("Mallen hör till en annan organisation.")]})
    if template.superseded_by_id is not None:
        raise ValidationError({"template": [_("Mallen har ersatts av en nyare version.")]})
    slots = _clean_plan(template, programme, planned_slots)
    _check_enrolment_dates(offered_on, accepted_on, None, child.birth_date)
    enrolment = Enrolment(
        child=child,
        centre=centre,
        template=template,
        offered_on=offered_on,
        accepted_on=accepted_on,
        eligibility=_check_choices(eligibility, Eligibility, "eligibility"),
        programme=programme,
        planned_slots=slots,
        language=language.strip(),
        interpreter_needed=interpreter_needed,
        created_by=user,
    )
    with transaction.atomic(), pghistory.context(user=user.username):
        # Serialise enrolments of one child, so two nurses cannot open two at once.
        Child.objects.select_for_update().filter(pk=child.pk).first()
        if child.enrolments.filter(ended_on__isnull=True, declined_on__isnull=True).exists():
            raise Conflict(_("Barnet har redan en pågående inskrivning."))
        enrolment.save()
    log_children(
        user=user, action=AccessAction.CREATE, entries=[(child, centre.pk)], what="enrolment"
    )
    return enrolment


UNSET: Any = object()


def enrolment_update(
    *,
    user: User,
    enrolment: Enrolment,
    accepted_on: datetime.date | None = UNSET,
    declined_on: datetime.date | None = UNSET,
    programme: str = UNSET,
    planned_slots: Sequence[str] = UNSET,
    language: str = UNSET,
    interpreter_needed: bool = UNSET,
) -> Enrolment:
    new_accepted = enrolment.accepted_on if accepted_on is UNSET else accepted_on
    new_declined = enrolment.declined_on if declined_on is UNSET else declined_on
    new_programme = enrolment.programme if programme is UNSET else programme
    slots_in = enrolment.planned_slots if planned_slots is UNSET else planned_slots
    if programme is not UNSET and programme == Programme.FULL and planned_slots is UNSET:
        slots_in = []
    new_slots = _clean_plan(enrolment.template, new_programme, slots_in)
    _check_enrolment_dates(
        enrolment.offered_on, new_accepted, new_declined, enrolment.child.birth_date
    )
    if enrolment.ended_on is not None:  # after the input checks: 400 before 409
        raise Conflict(_("Inskrivningen är avslutad."))
    new: dict[str, Any] = {
        "accepted_on": new_accepted,
        "declined_on": new_declined,
        "programme": new_programme,
        "planned_slots": new_slots,
        "language": enrolment.language if language is UNSET else language.strip(),
        "interpreter_needed": (
            enrolment.interpreter_needed if interpreter_needed is UNSET else interpreter_needed
        ),
    }
    changed = [name for name, value in new.items() if getattr(enrolment, name) != value]
    for name in changed:
        setattr(enrolment, name, new[name])
    if changed:
        with transaction.atomic(), pghistory.context(user=user.username):
            enrolment.save(update_fields=changed)
        log_children(
            user=user,
            action=AccessAction.UPDATE,
            entries=[(enrolment.child, enrolment.centre_id)],
            what="enrolment",
        )
    return enrolment


def enrolment_end(
    *,
    user: User,
    enrolment: Enrolment,
    ended_on: datetime.date,
    reason: str,
    moved_to: Centre | None = None,
) -> Enrolment:
    """End an enrolment. `moved` with a centre of the same organisation moves the child there:
    its nurses then see it and enrol it; this centre keeps the enrolment and its visits."""
    if reason not in EndReason.values:
        raise ValidationError({"reason": [_("Välj en orsak.")]})
    errors: dict[str, list[str]] = {}
    if ended_on > timezone.localdate():
        errors["ended_on"] = [_("Datumet ligger i framtiden.")]
    elif ended_on < enrolment.offered_on:
        errors["ended_on"] = [_("Datumet ligger före erbjudandet.")]
    child = enrolment.child
    if reason == EndReason.MOVED:
        if moved_to is None:
            errors["moved_to"] = [_("Ange vilken BVC barnet flyttar till.")]
        elif moved_to.organisation_id != child.organisation_id:
            errors["moved_to"] = [_("BVC:n hör till en annan organisation.")]
        elif moved_to.pk == enrolment.centre_id:
            errors["moved_to"] = [_("Barnet är redan inskrivet vid den BVC:n.")]
    elif moved_to is not None:
        errors["moved_to"] = [_("Ange BVC bara när barnet flyttar.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), pghistory.context(user=user.username):
        locked = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
        if locked.ended_on is not None:
            raise Conflict(_("Inskrivningen är redan avslutad."))
        enrolment.ended_on = ended_on
        enrolment.end_reason = reason
        enrolment.moved_to = moved_to
        enrolment.save(update_fields=["ended_on", "end_reason", "moved_to"])
        if moved_to is not None and child.current_centre_id == enrolment.centre_id:
            child.current_centre = moved_to
            child.save(update_fields=["current_centre"])
    log_children(
        user=user,
        action=AccessAction.UPDATE,
        entries=[(child, enrolment.centre_id)],
        what="enrolment",
    )
    return enrolment


# --- Visits -----------------------------------------------------------------------------------
@dataclass
class VisitInput:
    """What a nurse types, or a journal system sends, about one visit (API.md field names)."""

    date: datetime.date
    place: str
    status: str
    slot: str = ""
    social_services_present: bool = False
    participants: list[str] = field(default_factory=list)
    interpreter_mode: str = InterpreterMode.NONE
    interpreter_language: str = ""
    kva_codes: list[str] = field(default_factory=list)
    contacts_started: list[str] = field(default_factory=list)

    @classmethod
    def from_visit(cls, visit: Visit) -> VisitInput:
        return cls(
            date=visit.date,
            place=visit.place,
            status=visit.status,
            slot=visit.slot,
            social_services_present=visit.social_services_present,
            participants=list(visit.participants),
            interpreter_mode=visit.interpreter_mode,
            interpreter_language=visit.interpreter_language,
            kva_codes=list(visit.kva_codes),
            contacts_started=list(visit.contacts_started),
        )


def kva_codes_valid_on(codes: Iterable[str], day: datetime.date) -> set[str]:
    wanted = frozenset(codes)

    def valid() -> set[str]:
        return set(
            KvaCode.objects.filter(code__in=list(wanted), valid_from__lte=day)
            .exclude(valid_to__lt=day)
            .values_list("code", flat=True)
        )

    return extension.memo(("kva_codes_valid_on", wanted, day), valid)


def _clean_visit(enrolment: Enrolment, data: VisitInput) -> VisitInput:
    """Apply DOMAIN.md 3 to one visit: every error by field, nothing half-checked."""
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    if data.place not in VisitPlace.values:
        errors["place"] = [_("Välj plats.")]
    if data.status not in VisitStatus.values:
        errors["status"] = [_("Välj status.")]
    if data.date > today:
        errors["date"] = [_("Besöket kan inte ligga i framtiden.")]
    elif data.date < enrolment.child.birth_date:
        errors["date"] = [_("Besöket kan inte ligga före barnets födelse.")]
    elif enrolment.ended_on is not None and data.date > enrolment.ended_on:
        errors["date"] = [_("Besöket ligger efter att inskrivningen avslutades.")]

    slot = (data.slot or "").strip()
    if slot:
        keys = {s.key for s in enrolment.template.slots.all()}
        if slot not in keys:
            errors["slot"] = [_("Besökstillfället finns inte i barnets programmall.")]
        elif not enrolment.includes_slot(slot):
            errors["slot"] = [_("Besökstillfället ingår inte i familjens planerade program.")]

    try:
        participants = _check_choices(data.participants, Participant, "participants")
        contacts = _check_choices(data.contacts_started, Contact, "contacts_started")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        participants, contacts = [], []
    mode = data.interpreter_mode or InterpreterMode.NONE
    if mode not in InterpreterMode.values:
        errors["interpreter"] = [_("Välj hur tolken deltog.")]
    elif Participant.INTERPRETER in participants and mode == InterpreterMode.NONE:
        errors["interpreter"] = [_("Ange hur tolken deltog när tolk finns bland deltagarna.")]
    language = data.interpreter_language.strip() if mode != InterpreterMode.NONE else ""

    codes = _unique(c.strip().upper() for c in data.kva_codes)
    completed = data.status == VisitStatus.COMPLETED
    if codes and not completed:
        errors["kva_codes"] = [_("Inställda och uteblivna besök har inga KVÅ-koder.")]
    elif ZV509 in codes and not data.social_services_present:
        errors["kva_codes"] = [
            _("ZV509 (medverkan av socialtjänst) kräver att socialtjänsten deltog.")
        ]
    joint_home_visit = completed and data.place == VisitPlace.HOME and data.social_services_present
    if joint_home_visit and ZV509 not in codes:
        # Seed 004: every home visit made together with social services is coded ZV509.
        codes.append(ZV509)
    if codes and "kva_codes" not in errors and "date" not in errors:
        valid = kva_codes_valid_on(codes, data.date)
        invalid = [c for c in codes if c not in valid]
        if invalid:
            errors["kva_codes"] = [
                _("Okänd KVÅ-kod, eller inte giltig på besöksdagen: %s.") % ", ".join(invalid)
            ]
    if errors:
        raise ValidationError(errors)
    return VisitInput(
        date=data.date,
        place=data.place,
        status=data.status,
        slot=slot,
        social_services_present=data.social_services_present,
        participants=participants,
        interpreter_mode=mode,
        interpreter_language=language,
        kva_codes=codes,
        contacts_started=contacts,
    )


def slot_taken_message() -> str:
    """The refusal of a second completed visit for one slot (also the journal import's, for two
    rows of one file that claim the same slot)."""
    return _("Besökstillfället har redan ett genomfört besök.")


def _check_against_stored(visit: Visit, *, adjustment: bool, lock: bool = True) -> None:
    """The checks that read what is stored: one completed visit per slot, and the higher apps'
    (funding: a paid month). With `lock` (a save follows), locks the enrolment until the
    caller's transaction ends."""
    if lock:
        # One completed visit per slot: lock the enrolment so two saves cannot both pass.
        Enrolment.objects.select_for_update().filter(pk=visit.enrolment_id).first()
    if visit.status == VisitStatus.COMPLETED and visit.slot:
        clash = Visit.objects.filter(
            enrolment_id=visit.enrolment_id, slot=visit.slot, status=VisitStatus.COMPLETED
        ).exclude(pk=visit.pk)
        if clash.exists():
            raise Conflict(slot_taken_message())
    extension.run_checks(visit, adjustment=adjustment)


def _save_visit(visit: Visit, *, user: User, adjustment: bool, action: str) -> Visit:
    with transaction.atomic(), pghistory.context(user=user.username):
        _check_against_stored(visit, adjustment=adjustment)
        visit.save()
        extension.run_after_save(visit)
    log_children(
        user=user,
        action=action,
        entries=[(visit.enrolment.child, visit.centre_id)],
        what="visit",
    )
    return visit


def _new_visit(*, user: User, enrolment: Enrolment, data: VisitInput) -> Visit:
    """The cleaned, unsaved visit (DOMAIN.md 3), or ValidationError by field."""
    if enrolment.declined_on is not None:
        raise ValidationError({"enrolment": [_("Familjen har tackat nej till programmet.")]})
    clean = _clean_visit(enrolment, data)
    return Visit(
        enrolment=enrolment,
        centre_id=enrolment.centre_id,
        nurse=user,
        date=clean.date,
        place=clean.place,
        status=clean.status,
        slot=clean.slot,
        social_services_present=clean.social_services_present,
        participants=clean.participants,
        interpreter_mode=clean.interpreter_mode,
        interpreter_language=clean.interpreter_language,
        kva_codes=clean.kva_codes,
        contacts_started=clean.contacts_started,
    )


def visit_check(
    *, user: User, enrolment: Enrolment, data: VisitInput, adjustment: bool = False
) -> Visit:
    """Everything `visit_log()` checks, without saving: the cleaned, unsaved visit, or
    ValidationError by field, or Conflict (the slot already has a completed visit; a higher app
    refuses, e.g. a paid month). The journal import classifies its rows with it, so an imported
    visit meets the typed visit's rules: both run `_new_visit` and `_check_against_stored`.
    Nothing is saved, so nothing is locked: `visit_log()` checks again under its locks."""
    visit = _new_visit(user=user, enrolment=enrolment, data=data)
    _check_against_stored(visit, adjustment=adjustment, lock=False)
    return visit


def visit_log(
    *, user: User, enrolment: Enrolment, data: VisitInput, adjustment: bool = False
) -> Visit:
    """Log a visit made for `enrolment` (typed by a nurse, or imported from the journal): the
    checks of `visit_check`, then the save, in one transaction."""
    visit = _new_visit(user=user, enrolment=enrolment, data=data)
    return _save_visit(visit, user=user, adjustment=adjustment, action=AccessAction.CREATE)


def visit_update(
    *, user: User, visit: Visit, changes: dict[str, Any], adjustment: bool = False
) -> Visit:
    """Change a visit; `changes` holds only the fields sent (VisitInput names)."""
    current = VisitInput.from_visit(visit)
    unknown = set(changes) - set(current.__dataclass_fields__)
    if unknown:
        raise ValidationError({name: [_("Fältet kan inte ändras.")] for name in unknown})
    merged = VisitInput(**{**current.__dict__, **changes})
    if (
        "kva_codes" not in changes
        and merged.status != VisitStatus.COMPLETED
        and current.status == VisitStatus.COMPLETED
    ):
        merged.kva_codes = []  # a visit that did not happen carries no codes
    if "kva_codes" not in changes and not merged.social_services_present:
        merged.kva_codes = [c for c in merged.kva_codes if c != ZV509]
    clean = _clean_visit(visit.enrolment, merged)
    for name, value in clean.__dict__.items():
        setattr(visit, name, value)
    try:
        return _save_visit(visit, user=user, adjustment=adjustment, action=AccessAction.UPDATE)
    except Exception:
        # Refused (a conflict, a hook): the caller's object shows what is stored, not the
        # change that was not saved.
        visit.refresh_from_db()
        raise


# --- Reference data ---------------------------------------------------------------------------
def template_new_version(*, template: ProgrammeTemplate) -> ProgrammeTemplate:
    """Copy a template and its slots as the next version; the old one is superseded. Enrolments
    keep the version they started with (a template in use is never edited in place)."""
    with transaction.atomic():
        locked = ProgrammeTemplate.objects.select_for_update().get(pk=template.pk)
        if locked.superseded_by_id is not None:
            raise Conflict(_("Mallen har redan en nyare version."))
        new = ProgrammeTemplate.objects.create(
            organisation_id=locked.organisation_id,
            name=locked.name,
            version=locked.version + 1,
            description=locked.description,
        )
        TemplateSlot.objects.bulk_create(
            [
                TemplateSlot(
                    template=new,
                    key=s.key,
                    label=s.label,
                    kind=s.kind,
                    place=s.place,
                    target_age_days=s.target_age_days,
                    earliest_age_days=s.earliest_age_days,
                    latest_age_days=s.latest_age_days,
                )
                for s in locked.slots.all()
            ]
        )
        locked.superseded_by = new
        locked.save(update_fields=["superseded_by"])
    return new
