import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from core.models import Centre, Membership, Organisation, Partner, Role, User

pytestmark = pytest.mark.django_db

DEMO_USERS = {
    "nurse_vivalla": (Role.NURSE, "Vivalla/Lundby"),
    "nurse_varberga": (Role.NURSE, "Varberga"),
    "manager_vivalla": (Role.CENTRE_MANAGER, "Vivalla/Lundby"),
    "manager_adolfsberg": (Role.CENTRE_MANAGER, "Adolfsberg"),
    "cbhv": (Role.CBHV, None),
    "finance": (Role.FINANCE, None),
    "logreviewer": (Role.LOG_REVIEWER, None),
    "admin": (Role.ADMIN, None),
    "nurse_skaggetorp": (Role.NURSE, "Skäggetorp"),
    "finance_ostergotland": (Role.FINANCE, None),
}


def _snapshot() -> dict[str, list[tuple[object, ...]]]:
    """Every row of every project model (and users' password hashes), to compare two seeds."""
    snapshot = {}
    for config in apps.get_app_configs():
        if config.name not in {"core", "visits", "funding", "reporting"}:
            continue
        for model in config.get_models():
            fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
            snapshot[model._meta.label] = sorted(model.objects.values_list(*fields), key=repr)
    return snapshot


def _counts() -> dict[str, int]:
    return {label: len(rows) for label, rows in _snapshot().items()}


def test_seed_demo_twice_gives_the_same_data(settings, tmp_path):
    from reporting.models import NarrativeVersion, ReportRun

    settings.REPORT_STORE = tmp_path
    call_command("seed_demo", verbosity=0, stdout=None)
    first = _snapshot()
    counts = _counts()
    files = sorted(p.name for p in tmp_path.iterdir())
    # Not vacuous: the reports, the SKL grant and Östergötland are there to be compared.
    assert ReportRun.objects.filter(submitted_at__isnull=False).count() == len(files) >= 4
    assert NarrativeVersion.objects.count() > 0
    assert Organisation.objects.filter(name="Region Östergötland").exists()
    call_command("seed_demo", verbosity=0)
    assert _counts() == counts
    assert _snapshot() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_seed_demo_creates_the_three_organisations_and_their_centres(demo):
    orebro = Organisation.objects.get(name="Region Örebro län")
    linkoping = Organisation.objects.get(name="Linköpings kommun")
    ostergotland = Organisation.objects.get(name="Region Östergötland")
    assert orebro.kind == Organisation.Kind.REGION
    assert linkoping.kind == Organisation.Kind.MUNICIPALITY
    assert ostergotland.kind == Organisation.Kind.REGION
    names = set(Centre.objects.filter(organisation=orebro).values_list("name", flat=True))
    assert {"Vivalla/Lundby", "Varberga", "Mikaeli", "Brickebacken", "Adolfsberg"} <= names
    assert len(names) >= 6
    assert Centre.objects.get(name="Skäggetorp").organisation == linkoping
    assert set(Centre.objects.filter(organisation=ostergotland).values_list("name", flat=True)) == {
        "Navestad",
        "Hageby",
        "Ljura",
        "Ryd",
        "Berga",
        "Ekholmen",
    }
    dental = Partner.objects.filter(name="Folktandvården")
    assert set(dental.values_list("organisation__name", flat=True)) == {
        "Region Örebro län",
        "Region Östergötland",
    }
    assert Partner.objects.get(name="Leanlink").organisation == linkoping


@pytest.mark.parametrize(("username", "expected"), DEMO_USERS.items())
def test_each_demo_user_logs_in_with_the_demo_password_and_has_its_role(demo, username, expected):
    role, centre = expected
    login = RequestFactory().post("/accounts/login/")  # the lockout backend needs a request
    assert authenticate(login, username=username, password="hembesok-demo") is not None
    membership = Membership.objects.select_related("centre").get(user__username=username)
    assert membership.role == role
    assert (membership.centre.name if membership.centre else None) == centre


def test_only_the_demo_admin_reaches_the_django_admin(demo):
    staff = set(User.objects.filter(is_staff=True).values_list("username", flat=True))
    assert staff == {"admin"}


def test_seed_demo_is_refused_with_production_settings_unless_allowed(settings):
    """Its users, admin among them, share the published demo password (issue 25, item 11)."""
    from django.core.management.base import CommandError

    settings.DEVELOPMENT = False
    with pytest.raises(CommandError, match="refused with production settings"):
        call_command("seed_demo", verbosity=0)
    assert not User.objects.filter(username="admin").exists()
    assert not Organisation.objects.exists()
