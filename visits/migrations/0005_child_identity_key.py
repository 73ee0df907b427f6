"""Uniqueness of a child per organisation on a keyed hash of its identity (issue 24, item 10).

A unique violation on (organisation, identity_type, identity) wrote the number into
PostgreSQL's server log (the error's DETAIL). The key replaces it: added empty, filled in Python
with the function the application uses (`visits.identity.identity_hash`, keyed with
ACCESS_LOG_KEY), then made non-null and unique. The history triggers are removed while the
rows are filled, so the fill writes no history rows, and come back with the new column.
"""

from typing import Any

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from visits.identity import identity_hash


def fill_identity_keys(apps: Any, schema_editor: Any) -> None:
    for name in ("Child", "ChildEvent"):
        model = apps.get_model("visits", name)
        rows = list(
            model.objects.filter(identity_key__isnull=True).only("pk", "identity_type", "identity")
        )
        for row in rows:
            row.identity_key = identity_hash(row.identity_type, row.identity)
        model.objects.bulk_update(rows, ["identity_key"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("visits", "0004_access_log_guards_the_app_role_cannot_ignore")]

    operations = [
        pgtrigger.migrations.RemoveTrigger(model_name="child", name="insert_insert"),
        pgtrigger.migrations.RemoveTrigger(model_name="child", name="update_update"),
        migrations.AddField(
            model_name="child",
            name="identity_key",
            field=models.CharField(
                editable=False, max_length=64, null=True, verbose_name="identitetsnyckel"
            ),
        ),
        migrations.AddField(
            model_name="childevent",
            name="identity_key",
            field=models.CharField(
                editable=False, max_length=64, null=True, verbose_name="identitetsnyckel"
            ),
        ),
        migrations.RunPython(fill_identity_keys, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="child",
            name="identity_key",
            field=models.CharField(editable=False, max_length=64, verbose_name="identitetsnyckel"),
        ),
        migrations.AlterField(
            model_name="childevent",
            name="identity_key",
            field=models.CharField(editable=False, max_length=64, verbose_name="identitetsnyckel"),
        ),
        migrations.AddConstraint(
            model_name="child",
            constraint=models.UniqueConstraint(
                fields=("organisation", "identity_key"),
                name="visits_child_unique_identity_key_per_organisation",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="child", name="visits_child_unique_identity_per_organisation"
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="child",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "visits_childevent" ("birth_date", "created_at", "current_centre_id", "family_name", "given_name", "id", "identity", "identity_key", "identity_type", "organisation_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "protected") VALUES (NEW."birth_date", NEW."created_at", NEW."current_centre_id", NEW."family_name", NEW."given_name", NEW."id", NEW."identity", NEW."identity_key", NEW."identity_type", NEW."organisation_id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."protected"); RETURN NULL;',  # noqa: E501
                    hash="eb3df595f637fa62b36bd339dde86fde7087889e",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_aa3b9",
                    table="visits_child",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="child",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "visits_childevent" ("birth_date", "created_at", "current_centre_id", "family_name", "given_name", "id", "identity", "identity_key", "identity_type", "organisation_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "protected") VALUES (NEW."birth_date", NEW."created_at", NEW."current_centre_id", NEW."family_name", NEW."given_name", NEW."id", NEW."identity", NEW."identity_key", NEW."identity_type", NEW."organisation_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."protected"); RETURN NULL;',  # noqa: E501
                    hash="5ba2c2be32115770fe510e9c5051c89c1c7a7036",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_e3ed3",
                    table="visits_child",
                    when="AFTER",
                ),
            ),
        ),
    ]
