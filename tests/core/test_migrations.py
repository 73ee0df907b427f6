import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from core.models import Membership, Role
from tests.core.factories import CentreFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_all_migrations_are_applied_on_the_fresh_test_database():
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    assert plan == []


def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_database_refuses_a_membership_at_a_centre_of_another_organisation():
    centre = CentreFactory()
    other = OrganisationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=UserFactory(), organisation=other, role=Role.NURSE, centre=centre
        )
        # The composite foreign key is deferred: force the check inside this block.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_database_refuses_a_nurse_without_a_centre():
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=UserFactory(), organisation=OrganisationFactory(), role=Role.NURSE
        )


def test_database_refuses_a_finance_membership_tied_to_a_centre():
    centre = CentreFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=UserFactory(), organisation=centre.organisation, role=Role.FINANCE, centre=centre
        )
