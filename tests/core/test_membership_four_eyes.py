"""Four eyes on clinical roles, and the history of roles (issue 24, item 7 with 6 c).

The defect reproduced: an admin gave herself a nurse role at a centre in /admin/ and then read a
child's full personnummer and name through the API. Now nobody grants a clinical role (nurse,
centre manager) to herself; one granted by an admin confers nothing until a second admin, who is
neither the granter nor the grantee, approves it; the database holds the same rules; every
grant, approval and removal is in the history (pghistory) that the admin reads; and with her own
roles the admin reaches no child's identity by any route.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from core.models import Centre, Membership, MembershipEvent, Organisation, Role, User, UserEvent
from tests.core.factories import CentreFactory, UserFactory, member
from tests.visits.factories import EnrolmentFactory, log_visit, nurse_at
from visits.models import Child, Enrolment, Visit

pytestmark = pytest.mark.django_db

GIVEN_NAME = "Ingeborga"
FAMILY_NAME = "Qvistbergsdotter"


@dataclass
class World:
    organisation: Organisation
    centre: Centre
    other_centre: Centre
    child: Child
    enrolment: Enrolment
    visit: Visit
    admin: User
    second_admin: User
    grantee: User


def staff_admin(organisation: Organisation) -> User:
    user = member(Role.ADMIN, organisation=organisation)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def world() -> World:
    centre = CentreFactory()
    organisation = centre.organisation
    other_centre = CentreFactory(organisation=organisation)
    # The users first: a write after a service's pghistory context, in the same transaction (a
    # test's), would be recorded under that context.
    admin, second_admin = staff_admin(organisation), staff_admin(organisation)
    # A nurse of the organisation's other centre (granted by the system, in force), who is to
    # work at the child's centre too.
    grantee = nurse_at(other_centre)
    nurse = nurse_at(centre)
    enrolment = EnrolmentFactory(
        child__current_centre=centre,
        child__given_name=GIVEN_NAME,
        child__family_name=FAMILY_NAME,
        child__birth_date=timezone.localdate() - datetime.timedelta(days=100),
    )
    return World(
        organisation=organisation,
        centre=centre,
        other_centre=other_centre,
        child=enrolment.child,
        enrolment=enrolment,
        visit=log_visit(enrolment, nurse, slot="2m"),
        admin=admin,
        second_admin=second_admin,
        grantee=grantee,
    )


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def grant(client: Client, w: World, user: User, role: str = Role.NURSE) -> Any:
    return client.post(
        reverse("admin:core_membership_add"),
        {"user": user.pk, "organisation": w.organisation.pk, "role": role, "centre": w.centre.pk},
    )


def approve(client: Client, membership: Membership) -> list[str]:
    response = client.post(
        reverse("admin:core_membership_changelist"),
        {"action": "approve", "_selected_action": [membership.pk]},
    )
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def child_reads(user: User) -> tuple[int, int]:
    """The status codes of the child's API detail and page for `user`."""
    client = logged_in(user)
    child = Child.objects.get()
    api = client.get(f"/api/v1/children/{child.pk}/")
    page = client.get(reverse("visits:child_detail", args=[child.pk]))
    return api.status_code, page.status_code


# --- Nobody grants herself a clinical role --------------------------------------------------------


def test_an_admin_cannot_give_herself_a_nurse_role_in_the_membership_admin(world):
    response = grant(logged_in(world.admin), world, world.admin)
    assert response.status_code == 200  # the form again, with the error
    assert "Du kan inte ge dig själv en klinisk roll" in response.content.decode()
    assert list(world.admin.memberships.values_list("role", flat=True)) == [Role.ADMIN]
    assert child_reads(world.admin) == (403, 403)


def test_an_admin_cannot_give_herself_a_nurse_role_on_her_user_page(world):
    """The route of the reproduced defect: the membership inline on her own user page."""
    me = world.admin
    response = logged_in(me).post(
        reverse("admin:core_user_change", args=[me.pk]),
        {
            "username": me.username,
            "first_name": me.first_name,
            "last_name": me.last_name,
            "email": "",
            "is_active": "on",
            "is_staff": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-organisation": world.organisation.pk,
            "memberships-0-role": Role.NURSE,
            "memberships-0-centre": world.centre.pk,
        },
    )
    assert response.status_code == 200
    assert "Du kan inte ge dig själv en klinisk roll" in response.content.decode()
    assert list(me.memberships.values_list("role", flat=True)) == [Role.ADMIN]
    assert child_reads(me) == (403, 403)


def test_a_grant_on_a_users_page_records_the_granter_and_waits_for_approval(world):
    target = world.grantee
    response = logged_in(world.admin).post(
        reverse("admin:core_user_change", args=[target.pk]),
        {
            "username": target.username,
            "first_name": target.first_name,
            "last_name": target.last_name,
            "email": "",
            "is_active": "on",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-organisation": world.organisation.pk,
            "memberships-0-role": Role.CENTRE_MANAGER,
            "memberships-0-centre": world.centre.pk,
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.pending().get()
    assert (membership.user, membership.role, membership.granted_by) == (
        target,
        Role.CENTRE_MANAGER,
        world.admin,
    )
    assert child_reads(target) == (404, 404)


def test_an_admin_may_give_herself_a_role_that_is_not_clinical(world):
    response = logged_in(world.admin).post(
        reverse("admin:core_membership_add"),
        {"user": world.admin.pk, "organisation": world.organisation.pk, "role": Role.CBHV},
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=world.admin, role=Role.CBHV).approval_status == "Gäller"


# --- A second admin approves ----------------------------------------------------------------------


def test_a_nurse_role_granted_by_one_admin_confers_nothing_until_a_second_admin_approves(world):
    granter = logged_in(world.admin)
    assert grant(granter, world, world.grantee).status_code == 302
    membership = Membership.objects.get(user=world.grantee, centre=world.centre)
    assert membership.granted_by == world.admin
    assert membership.is_pending
    # Pending: the nurse of the other centre still gets "not found" on the child.
    assert child_reads(world.grantee) == (404, 404)

    # The pending list shows it, with its status.
    pending = granter.get(reverse("admin:core_membership_changelist") + "?godkannande=pending")
    html = pending.content.decode()
    assert world.grantee.username in html
    assert "Väntar på godkännande" in html
    assert world.centre.name in html
    assert world.other_centre.name not in html  # her system-granted role is in force

    # The granter cannot approve it.
    messages = approve(granter, membership)
    assert messages == [
        f"{membership}: Den som gav rollen kan inte godkänna den; en annan administratör gör det."
    ]
    membership.refresh_from_db()
    assert membership.approved_by is None
    assert child_reads(world.grantee) == (404, 404)

    # A second admin can.
    messages = approve(logged_in(world.second_admin), membership)
    assert messages == ["1 anställning är godkänd."]
    membership.refresh_from_db()
    assert membership.approved_by == world.second_admin
    assert membership.approved_at is not None
    assert not membership.is_pending
    assert child_reads(world.grantee) == (200, 200)
    body = logged_in(world.grantee).get(f"/api/v1/children/{world.child.pk}/").json()
    assert body["identity"] == world.child.identity
    assert body["given_name"] == GIVEN_NAME


def test_an_admin_cannot_approve_a_clinical_role_granted_to_herself(world):
    granter = logged_in(world.admin)
    assert grant(granter, world, world.second_admin).status_code == 302
    membership = Membership.objects.get(user=world.second_admin, role=Role.NURSE)
    messages = approve(logged_in(world.second_admin), membership)
    assert messages == [f"{membership}: Ingen kan godkänna en klinisk roll åt sig själv."]
    membership.refresh_from_db()
    assert membership.is_pending
    assert child_reads(world.second_admin) == (403, 403)


def test_an_admin_of_another_organisation_cannot_approve(world):
    assert grant(logged_in(world.admin), world, world.grantee).status_code == 302
    membership = Membership.objects.get(user=world.grantee, centre=world.centre)
    outsider = staff_admin(CentreFactory().organisation)
    # Her list does not show the membership, so the action does not reach it ...
    assert approve(logged_in(outsider), membership) == []
    # ... and the rule itself refuses her.
    with pytest.raises(
        ValidationError, match="Bara en administratör i anställningens organisation"
    ):
        membership.approve(by=outsider)
    membership.refresh_from_db()
    assert membership.is_pending


def test_a_membership_is_never_edited_in_the_admin(world):
    """An edit would carry an approval over to another user, role or centre."""
    membership = Membership.objects.get(user=world.grantee)
    url = reverse("admin:core_membership_change", args=[membership.pk])
    client = logged_in(world.admin)
    response = client.post(
        url,
        {
            "user": world.admin.pk,
            "organisation": world.organisation.pk,
            "role": Role.NURSE,
            "centre": world.other_centre.pk,
        },
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.user == world.grantee


def test_system_grants_are_in_force_without_approval(world):
    """Memberships made outside the admin (seed_demo, commands, the shell) have no granter and
    count as granted by the system."""
    membership = Membership.objects.get(user=world.grantee)
    assert membership.granted_by is None
    assert not membership.is_pending
    assert list(Membership.objects.filter(user=world.grantee).in_force()) == [membership]
    assert world.grantee.scope.centre_ids(Role.NURSE) == {world.other_centre.pk}


def test_the_demo_users_roles_are_system_grants_in_force(demo):
    assert Membership.objects.filter(granted_by__isnull=False).count() == 0
    assert Membership.objects.in_force().count() == Membership.objects.count()
    vivalla = Centre.objects.get(name="Vivalla/Lundby")
    nurse = User.objects.get(username="nurse_vivalla")
    assert nurse.scope.centre_ids(Role.NURSE) == {vivalla.pk}
    child = Child.objects.filter(current_centre=vivalla).first()
    assert child is not None
    assert logged_in(nurse).get(f"/api/v1/children/{child.pk}/").json()["identity"]
    admin = User.objects.get(username="admin")
    assert admin.scope.roles() == {Role.ADMIN}
    assert logged_in(admin).get(f"/api/v1/children/{child.pk}/").status_code == 403


# --- The database holds the rules -----------------------------------------------------------------


def test_the_database_refuses_a_clinical_role_granted_to_herself(world):
    refused = pytest.raises(IntegrityError, match="core_membership_no_self_granted_clinical_role")
    with refused, transaction.atomic():
        Membership.objects.create(
            user=world.admin,
            organisation=world.organisation,
            role=Role.CENTRE_MANAGER,
            centre=world.centre,
            granted_by=world.admin,
        )


@pytest.mark.parametrize(
    ("approver", "constraint"),
    [
        ("admin", "core_membership_approver_is_neither_grantee_nor_granter"),
        ("grantee", "core_membership_approver_is_neither_grantee_nor_granter"),
    ],
)
def test_the_database_refuses_an_approval_by_the_granter_or_the_grantee(
    world, approver, constraint
):
    membership = Membership.objects.create(
        user=world.grantee,
        organisation=world.organisation,
        role=Role.NURSE,
        centre=world.centre,
        granted_by=world.admin,
    )
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Membership.objects.filter(pk=membership.pk).update(
            approved_by=getattr(world, approver), approved_at=timezone.now()
        )
    assert Membership.objects.pending().get() == membership


@pytest.mark.parametrize(
    "fields",
    [
        # An approval without who or without when.
        {"role": Role.NURSE, "granted": True, "approved_by": False, "approved_at": True},
        {"role": Role.NURSE, "granted": True, "approved_by": True, "approved_at": False},
        # An approval of a system grant, or of a role that needs none.
        {"role": Role.NURSE, "granted": False, "approved_by": True, "approved_at": True},
        {"role": Role.FINANCE, "granted": True, "approved_by": True, "approved_at": True},
    ],
)
def test_the_database_refuses_an_approval_that_is_not_one(world, fields):
    clinical = fields["role"] == Role.NURSE
    refused = pytest.raises(IntegrityError, match="core_membership_approval_of_an_admin_grant")
    with refused, transaction.atomic():
        Membership.objects.create(
            user=UserFactory(),
            organisation=world.organisation,
            role=fields["role"],
            centre=world.centre if clinical else None,
            granted_by=world.admin if fields["granted"] else None,
            approved_by=world.second_admin if fields["approved_by"] else None,
            approved_at=timezone.now() if fields["approved_at"] else None,
        )


def test_the_database_accepts_an_approval_by_a_second_admin(world):
    membership = Membership.objects.create(
        user=world.grantee,
        organisation=world.organisation,
        role=Role.NURSE,
        centre=world.centre,
        granted_by=world.admin,
        approved_by=world.second_admin,
        approved_at=timezone.now(),
    )
    assert list(Membership.objects.pending()) == []
    assert membership in Membership.objects.in_force()


def test_a_user_who_granted_a_role_is_not_deleted(world):
    """Deleting the granter would empty `granted_by` and turn a pending grant into a system
    grant, in force: the database keeps her (she is deactivated instead)."""
    assert grant(logged_in(world.admin), world, world.grantee).status_code == 302
    with pytest.raises(ProtectedError), transaction.atomic():
        world.admin.delete()
    assert Membership.objects.pending().get().granted_by == world.admin


# --- History --------------------------------------------------------------------------------------


def test_grant_approval_and_removal_are_in_the_history_that_the_admin_reads(world):
    first, second = logged_in(world.admin), logged_in(world.second_admin)
    assert grant(first, world, world.grantee).status_code == 302
    membership = Membership.objects.get(user=world.grantee, centre=world.centre)
    approve(second, membership)
    response = first.post(
        reverse("admin:core_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()

    events: list[Any] = list(
        MembershipEvent._default_manager.filter(pgh_obj_id=membership.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )
    assert [
        (e.pgh_label, e.pgh_context.metadata["user"], e.granted_by_id, e.approved_by_id)
        for e in events
    ] == [
        ("insert", world.admin.username, world.admin.pk, None),
        ("update", world.second_admin.username, world.admin.pk, world.second_admin.pk),
        ("delete", world.admin.username, world.admin.pk, world.second_admin.pk),
    ]

    html = first.get(
        reverse("admin:core_membershipevent_changelist") + f"?user={world.grantee.pk}"
    ).content.decode()
    table = re.search(r'<table id="result_list">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert table is not None
    rows = re.findall(r"<tr\b.*?</tr>", table.group(1), re.S)
    cells = [re.sub(r"<[^>]+>", "|", row) for row in rows]
    # Newest first; the last is her system-granted role at the other centre.
    for cell, (event, by, centre) in zip(
        cells,
        [
            ("Borttagen", world.admin.username, world.centre),
            ("Godkänd", world.second_admin.username, world.centre),
            ("Beviljad", world.admin.username, world.centre),
            ("Beviljad", "systemet", world.other_centre),
        ],
        strict=True,
    ):
        assert f"|{event}|" in cell
        assert cell.endswith(f"|{by}||")
        assert f"|{centre.name}|" in cell
        assert f"|{world.grantee.username}|" in cell

    # The history is read only, and an admin of another organisation does not see it.
    assert first.post(
        reverse("admin:core_membershipevent_changelist"),
        {"action": "delete_selected", "_selected_action": [events[0].pgh_id], "post": "yes"},
    ).status_code in (200, 302)
    assert MembershipEvent._default_manager.filter(pgh_obj_id=membership.pk).count() == 3
    outsider = logged_in(staff_admin(CentreFactory().organisation))
    html = outsider.get(reverse("admin:core_membershipevent_changelist")).content.decode()
    assert world.grantee.username not in html


def test_a_users_access_switches_are_in_the_history_on_her_page(world):
    target = world.grantee
    client = logged_in(world.admin)
    response = client.post(
        reverse("admin:core_user_change", args=[target.pk]),
        {
            "username": target.username,
            "first_name": target.first_name,
            "last_name": target.last_name,
            "email": "",
            "is_staff": "",
            # is_active unticked
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302
    events: list[Any] = list(
        UserEvent._default_manager.filter(pgh_obj_id=target.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )
    assert [
        (e.pgh_label, e.is_active, e.pgh_context and e.pgh_context.metadata["user"]) for e in events
    ] == [("insert", True, None), ("update", False, world.admin.username)]
    html = client.get(reverse("admin:core_user_change", args=[target.pk])).content.decode()
    assert "Behörighetshistorik" in html
    assert (
        f"<td>Ändrad</td><td>nej</td><td>nej</td><td>nej</td><td>{world.admin.username}</td>"
        in html
    )
    assert "<td>Beviljad</td><td>ja</td><td>nej</td><td>nej</td><td>systemet</td>" in html


# --- The admin reaches no child's identity by any route -------------------------------------------


def _routes() -> Iterator[tuple[str, str]]:
    """(path pattern, name) of every route in the URL conf, the admin's left out (below)."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = ":".join(filter(None, [namespace, p.namespace or ""]))
                if ns == "admin":
                    continue
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), ":".join(filter(None, [namespace, p.name or ""]))

    yield from walk(get_resolver().url_patterns, "", "")


CHILD_WORDS = ("child", "enrolment", "visit", "worklist", "access-log")


def _url(pattern: str, name: str, w: World) -> str:
    """The route's URL with its path object: the child, enrolment or visit that it names."""
    short = name.rsplit(":", 1)[-1]
    if pattern.startswith("inskrivningar/") or "enrolment" in short:
        target = w.enrolment.pk  # `inskrivningar/<pk>/besok/ny/` too: it names an enrolment
    elif pattern.startswith("barn/") or "child" in short:
        target = w.child.pk
    elif "visit" in short:
        target = w.visit.pk
    else:
        target = w.child.pk
    path = re.sub(r"<uuid:\w+>", str(target), pattern)
    path = re.sub(r"<int:\w+>", str(timezone.localdate().year), path)
    return "/" + re.sub(r"<(?:str|path|slug):\w+>", "x", path)


def test_the_routes_named_below_reach_the_child_for_her_nurse(world):
    """The control for the test below: the URLs it builds name the child, enrolment and visit
    (the child's nurse reads them)."""
    nurse = User.objects.get(memberships__centre=world.centre, memberships__role=Role.NURSE)
    client = logged_in(nurse)
    urls = {name: _url(pattern, name, world) for pattern, name in _routes()}
    for name in [
        "api-child",
        "api-enrolment",
        "api-visit",
        "visits:child_detail",
        "visits:enrolment_detail",
        "visits:visit_detail",
        "visits:visit_create",
    ]:
        assert client.get(urls[name]).status_code == 200, name
    assert client.get(urls["api-child"]).json()["identity"] == world.child.identity
    assert FAMILY_NAME in client.get(urls["visits:child_detail"]).content.decode()


def _identifying(w: World) -> list[str]:
    identity = w.child.identity  # YYYYMMDDNNNN
    return [
        identity,
        f"{identity[:8]}-{identity[8:]}",
        f"{identity[2:8]}-{identity[8:]}",
        GIVEN_NAME,
        FAMILY_NAME,
    ]


def test_the_admin_cannot_reach_a_childs_identity_by_any_route(world):
    """With her own roles (admin, and CBHV given to herself, which she may), every API route
    and every page about children, enrolments and visits answers 403 or 404, and no response,
    those of the other API routes and of every admin list included, carries the child's
    identity number or name."""
    Membership.objects.create(
        user=world.admin, organisation=world.organisation, role=Role.CBHV
    )  # a second non-clinical role, so that "her own roles" are more than one
    client = logged_in(world.admin)
    secrets = _identifying(world)
    asked: list[str] = []
    for pattern, name in _routes():
        is_api = pattern.startswith("api/v1/")
        child_bearing = any(word in name.rsplit(":", 1)[-1] for word in CHILD_WORDS)
        if not is_api and not child_bearing:
            continue
        url = _url(pattern, name, world)
        requests = [client.get(url)]
        if is_api and child_bearing:
            body = {"identity_type": "personnummer", "identity": world.child.identity}
            requests.append(client.post(url, body, content_type="application/json"))
        for response in requests:
            asked.append(name)
            text = response.content.decode(errors="replace")
            assert not [s for s in secrets if s in text], (name, url, response.status_code)
            if child_bearing:
                assert response.status_code in (403, 404), (name, url, response.status_code)
    # The enumeration found the routes that matter.
    for name in [
        "api-children",
        "api-child",
        "api-enrolment",
        "api-visit",
        "api-worklist",
        "api-access-log-extract",
        "visits:child_detail",
        "visits:enrolment_detail",
        "visits:visit_detail",
    ]:
        assert name in asked, name

    # Every admin list and add form she can open.
    for model in django_admin.site._registry:
        opts = model._meta
        for view in ("changelist", "add"):
            response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}"))
            text = response.content.decode(errors="replace")
            assert not [s for s in secrets if s in text], (opts.label, view)
