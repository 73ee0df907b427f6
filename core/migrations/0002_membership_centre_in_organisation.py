from django.db import migrations


class Migration(migrations.Migration):
    """A membership's centre belongs to the membership's organisation, held by the database:
    a composite foreign key onto the unique (id, organisation_id) of core_centre."""

    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="""
                ALTER TABLE core_membership
                ADD CONSTRAINT core_membership_centre_in_organisation
                FOREIGN KEY (centre_id, organisation_id)
                REFERENCES core_centre (id, organisation_id)
                DEFERRABLE INITIALLY DEFERRED;
            """,
            reverse_sql=(
                "ALTER TABLE core_membership DROP CONSTRAINT core_membership_centre_in_organisation;"
            ),
        )
    ]
