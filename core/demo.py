"""Demo organisations, centres, partners and users (API.md, "Demo data"). For the demo only."""

from __future__ import annotations

from core.models import Centre, Membership, Organisation, Partner, Role, User

# The demo users' published password (README): demo data only, never production.
DEMO_PASSWORD = "hembesok-demo"  # nosec B105
OREBRO = "Region Örebro län"
LINKOPING = "Linköpings kommun"
OSTERGOTLAND = "Region Östergötland"

# Seed 004: child CNI above 2 in Örebro 2025 at Vivalla/Lundby, Varberga, Mikaeli and
# Brickebacken; Adolfsberg and Tybble are below (their CNI comes with the fixed-compensation
# work).
OREBRO_CENTRES = [
    ("Vivalla/Lundby", "SE2321000164-BVC01"),
    ("Varberga", "SE2321000164-BVC02"),
    ("Mikaeli", "SE2321000164-BVC03"),
    ("Brickebacken", "SE2321000164-BVC04"),
    ("Adolfsberg", "SE2321000164-BVC05"),
    ("Tybble", "SE2321000164-BVC06"),
]
LINKOPING_CENTRES = [("Skäggetorp", "SE2120001231-BVC01")]
# Seed 001: Region Östergötland's own money goes to "the centres with the highest care load and
# number of listed children". These are real primary-care areas of Norrköping (Navestad,
# Hageby, Ljura) and Linköping (Ryd, Berga, Ekholmen); which of them get the money, their CNI
# and the HSA ids are examples (README). Skäggetorp stays Linköpings kommun's unit.
OSTERGOTLAND_CENTRES = [
    ("Navestad", "SE2321000186-BVC01"),
    ("Hageby", "SE2321000186-BVC02"),
    ("Ljura", "SE2321000186-BVC03"),
    ("Ryd", "SE2321000186-BVC04"),
    ("Berga", "SE2321000186-BVC05"),
    ("Ekholmen", "SE2321000186-BVC06"),
]

USERS: list[tuple[str, str, str, str, str, str | None]] = [
    # username, first name, last name, organisation, role, centre
    ("nurse_vivalla", "Sara", "Lind", OREBRO, Role.NURSE, "Vivalla/Lundby"),
    ("nurse_varberga", "Amina", "Yusuf", OREBRO, Role.NURSE, "Varberga"),
    ("manager_vivalla", "Karin", "Berg", OREBRO, Role.CENTRE_MANAGER, "Vivalla/Lundby"),
    ("manager_adolfsberg", "Per", "Holm", OREBRO, Role.CENTRE_MANAGER, "Adolfsberg"),
    ("cbhv", "Eva", "Nilsson", OREBRO, Role.CBHV, None),
    ("finance", "Johan", "Ek", OREBRO, Role.FINANCE, None),
    ("logreviewer", "Lena", "Strand", OREBRO, Role.LOG_REVIEWER, None),
    ("admin", "Ali", "Hassan", OREBRO, Role.ADMIN, None),
    ("nurse_skaggetorp", "Maria", "Sjöberg", LINKOPING, Role.NURSE, "Skäggetorp"),
    ("finance_ostergotland", "Sofia", "Wallin", OSTERGOTLAND, Role.FINANCE, None),
]


def seed() -> None:
    orebro, _ = Organisation.objects.update_or_create(
        name=OREBRO, defaults={"kind": Organisation.Kind.REGION}
    )
    linkoping, _ = Organisation.objects.update_or_create(
        name=LINKOPING, defaults={"kind": Organisation.Kind.MUNICIPALITY}
    )
    ostergotland, _ = Organisation.objects.update_or_create(
        name=OSTERGOTLAND, defaults={"kind": Organisation.Kind.REGION}
    )
    orgs = {OREBRO: orebro, LINKOPING: linkoping, OSTERGOTLAND: ostergotland}
    for org, centre_rows in (
        (orebro, OREBRO_CENTRES),
        (linkoping, LINKOPING_CENTRES),
        (ostergotland, OSTERGOTLAND_CENTRES),
    ):
        for name, hsa_id in centre_rows:
            Centre.objects.update_or_create(
                organisation=org, name=name, defaults={"hsa_id": hsa_id, "active": True}
            )
    Partner.objects.update_or_create(
        organisation=orebro, name="Folktandvården", defaults={"kind": Partner.Kind.DENTAL_CARE}
    )
    # Seed 001: 1,5 of Region Östergötland's 6,25 MSEK a year go to Folktandvården.
    Partner.objects.update_or_create(
        organisation=ostergotland,
        name="Folktandvården",
        defaults={"kind": Partner.Kind.DENTAL_CARE},
    )
    Partner.objects.update_or_create(
        organisation=linkoping, name="Leanlink", defaults={"kind": Partner.Kind.MUNICIPAL_PROVIDER}
    )

    centres = {(c.organisation_id, c.name): c for c in Centre.objects.all()}
    for username, first, last, org_name, role, centre_name in USERS:
        org = orgs[org_name]
        user, created = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.org",
                "is_active": True,
                "is_staff": role == Role.ADMIN,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        centre = centres[(org.id, centre_name)] if centre_name else None
        # Granted by the system (no `granted_by`): in force without a second admin's approval,
        # which only roles granted in the admin need (core.models.Membership).
        Membership.objects.get_or_create(user=user, organisation=org, role=role, centre=centre)
