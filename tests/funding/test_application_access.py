"""Who may decide on an application (API.md): CBHV of its organisation, never on one's own, one's
own being an application of a centre one is a member of or one that one drafted or submitted,
also before a resubmission. The rule is `funding.selectors.may_decide()`; the service, the
application page, CBHV's inbox and the API must all answer as it does."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from core.models import Membership, Role, User
from funding import selectors
from funding.applications import application_reject, application_request_changes, application_submit
from funding.models import Application
from tests.core.factories import CentreFactory, OrganisationFactory, UserFactory, member
from tests.funding.factories import cni, draft

pytestmark = pytest.mark.django_db

# persona -> may she decide?
PERSONAS = {
    "cbhv": True,
    "cbhv_working_at_the_centre": False,
    "cbhv_who_drafted_it": False,
    "cbhv_who_submitted_before_a_resubmission": False,
    "cbhv_of_another_organisation": False,
    "nurse_of_the_centre": False,
}


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # the scope is cached per user object


def setting(persona: str) -> tuple[Application, User]:
    """A submitted application, and the persona as she is now."""
    org = OrganisationFactory()
    centre = CentreFactory(organisation=org)
    cni(centre, "2.50")
    manager = member(Role.CENTRE_MANAGER, centre=centre)
    other_cbhv = member(Role.CBHV, organisation=org)
    person = UserFactory.create()
    if persona == "cbhv":
        member(Role.CBHV, organisation=org, user=person)
    elif persona == "cbhv_working_at_the_centre":
        member(Role.CBHV, organisation=org, user=person)
        member(Role.NURSE, centre=centre, user=person)
    elif persona in ("cbhv_who_drafted_it", "cbhv_who_submitted_before_a_resubmission"):
        # She worked at the centre then, and has moved to the central unit since.
        member(Role.CBHV, organisation=org, user=person)
        member(Role.NURSE, centre=centre, user=person)
    elif persona == "cbhv_of_another_organisation":
        member(Role.CBHV, organisation=OrganisationFactory(), user=person)
    elif persona == "nurse_of_the_centre":
        member(Role.NURSE, centre=centre, user=person)

    drafter = person if persona == "cbhv_who_drafted_it" else manager
    application = draft(centre, by=drafter)
    if persona == "cbhv_who_submitted_before_a_resubmission":
        application = application_submit(user=person, application=application)
        application = application_request_changes(
            user=other_cbhv, application=application, comment="Fler timmar"
        )
    application = application_submit(user=manager, application=application)
    if persona in ("cbhv_who_drafted_it", "cbhv_who_submitted_before_a_resubmission"):
        Membership.objects.filter(user=person, centre=centre).delete()
    assert application.submitted_by == manager or persona == "nurse_of_the_centre"
    return application, fresh(person)


@pytest.mark.parametrize(("persona", "decides"), PERSONAS.items())
def test_every_place_answers_who_may_decide_alike(client, api_client_for, persona, decides):
    application, person = setting(persona)

    # The rule.
    assert selectors.may_decide(user=person, application=application) is decides

    # The service (an empty reason: a decider gets the 400 on the input, never a decision).
    with pytest.raises(ValidationError if decides else PermissionDenied):
        application_reject(user=person, application=application, reason="")

    # The API: 403 before the input for those who may not (404 for those who do not see it).
    response = api_client_for(fresh(person)).post(
        f"/api/v1/applications/{application.pk}/reject/", {}, format="json"
    )
    if persona == "cbhv_of_another_organisation":
        assert response.status_code == 404
    else:
        assert response.status_code == (400 if decides else 403)

    # The application page and the inbox offer the decision forms to deciders only.
    approve = reverse("funding:application_approve", args=[application.pk])
    client.force_login(fresh(person))
    detail = client.get(reverse("funding:application", args=[application.pk]))
    if detail.status_code == 200:
        assert (approve in detail.content.decode()) is decides
    else:
        assert not decides
    inbox = client.get(reverse("funding:inbox"))
    if inbox.status_code == 200:
        assert (approve in inbox.content.decode()) is decides
    else:
        assert not decides

    assert Application.objects.get(pk=application.pk).status == "submitted"


def test_the_inbox_decides_who_is_own_in_one_query_whatever_the_number(
    django_assert_max_num_queries,
):
    org = OrganisationFactory()
    cbhv = member(Role.CBHV, organisation=org)
    for _ in range(5):
        centre = CentreFactory(organisation=org)
        cni(centre, "2.50")
        manager = member(Role.CENTRE_MANAGER, centre=centre)
        application_submit(user=manager, application=draft(centre, by=manager))

    cbhv = fresh(cbhv)
    cbhv.scope  # noqa: B018 - loaded once per request by the navigation already

    with django_assert_max_num_queries(2):  # the applications, their history
        rows = selectors.inbox_applications(user=cbhv)
    assert [a.is_own for a in rows] == [False] * 5
