import datetime

from django.db import migrations


def add_zv509(apps, schema_editor):
    # Reference data every installation needs (not demo data). Seed 004 names the code; its
    # start date in the KVÅ classification is set early enough to cover the programme's years
    # and can be corrected in the admin.
    KvaCode = apps.get_model("visits", "KvaCode")
    KvaCode.objects.get_or_create(
        code="ZV509",
        valid_from=datetime.date(2015, 1, 1),
        defaults={"title": "Medverkan av företrädare för socialtjänst"},
    )


class Migration(migrations.Migration):
    dependencies = [("visits", "0001_initial")]

    operations = [
        migrations.RunPython(add_zv509, migrations.RunPython.noop),
        # A child's current centre belongs to the child's organisation, held by the database.
        migrations.RunSQL(
            sql="""
                ALTER TABLE visits_child
                ADD CONSTRAINT visits_child_centre_in_organisation
                FOREIGN KEY (current_centre_id, organisation_id)
                REFERENCES core_centre (id, organisation_id)
                DEFERRABLE INITIALLY DEFERRED;
            """,
            reverse_sql=(
                "ALTER TABLE visits_child DROP CONSTRAINT visits_child_centre_in_organisation;"
            ),
        ),
    ]
