import pytest
from django.contrib import admin
from django.urls import reverse

from core.exceptions import Conflict
from core.models import User
from tests.visits.factories import EnrolmentFactory
from visits.models import AccessLog, Child, Enrolment, KvaCode, ProgrammeTemplate, Visit
from visits.services import template_new_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_demo(client, demo):
    client.force_login(User.objects.get(username="admin"))
    return client


def test_child_data_is_not_in_the_admin():
    for model in (Child, Enrolment, Visit, AccessLog):
        assert not admin.site.is_registered(model), model


def test_admin_sees_only_her_organisations_templates(admin_client_demo):
    html = admin_client_demo.get(reverse("admin:visits_programmetemplate_changelist")).content
    assert "Region Örebro län".encode() in html
    assert "Skäggetorp".encode() not in html
    other = ProgrammeTemplate.objects.get(organisation__name="Linköpings kommun")
    url = reverse("admin:visits_programmetemplate_change", args=[other.pk])
    assert admin_client_demo.get(url).status_code == 404


def test_new_version_copies_slots_and_enrolments_keep_theirs(demo):
    template = ProgrammeTemplate.objects.get(organisation__name="Region Örebro län")
    enrolment = EnrolmentFactory(
        child__current_centre=template.organisation.centres.first(), template=template
    )
    new = template_new_version(template=template)
    template.refresh_from_db()
    enrolment.refresh_from_db()
    assert new.version == template.version + 1
    assert template.superseded_by == new
    assert list(new.slots.values_list("key", flat=True)) == list(
        template.slots.values_list("key", flat=True)
    )
    assert enrolment.template == template
    assert list(ProgrammeTemplate.objects.filter(name=template.name).current()) == [new]
    with pytest.raises(Conflict):
        template_new_version(template=template)


def test_a_template_in_use_is_read_only_in_the_admin(admin_client_demo):
    template = ProgrammeTemplate.objects.get(organisation__name="Region Örebro län")
    EnrolmentFactory(child__current_centre=template.organisation.centres.first(), template=template)
    url = reverse("admin:visits_programmetemplate_change", args=[template.pk])
    html = admin_client_demo.get(url).content.decode()
    assert 'name="name"' not in html  # shown, not editable
    response = admin_client_demo.post(
        reverse("admin:visits_programmetemplate_changelist"),
        {"action": "make_new_version", "_selected_action": [template.pk]},
    )
    assert response.status_code == 302
    assert ProgrammeTemplate.objects.filter(name=template.name, version=2).exists()


def test_admin_edits_kva_codes_but_never_deletes_them(admin_client_demo):
    code = KvaCode.objects.get(code="ZV509")
    url = reverse("admin:visits_kvacode_change", args=[code.pk])
    assert admin_client_demo.get(url).status_code == 200
    assert (
        admin_client_demo.get(reverse("admin:visits_kvacode_delete", args=[code.pk])).status_code
        == 403
    )


def test_nurses_do_not_reach_reference_data_in_the_admin(client, demo):
    client.force_login(User.objects.get(username="nurse_vivalla"))
    response = client.get(reverse("admin:visits_kvacode_changelist"))
    assert response.status_code == 302
