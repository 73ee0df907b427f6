"""Retention (issue 24, items 4 and 5; visits.retention).

- `Child.anonymised_on`: the day retention anonymised the child (also on its history rows, which
  pghistory copies; the Child triggers come back with the new column).
- The access log's append-only trigger lets a DELETE through for rows older than the floor of
  5 years (visits.models.ACCESS_LOG_FLOOR_YEARS), so `manage.py purge_access_log` can remove rows
  past their period; UPDATE, TRUNCATE and younger rows stay refused.
"""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

import core.db_guards

_CHILD_EVENT_INSERT = (
    'INSERT INTO "visits_childevent" ("anonymised_on", "birth_date", "created_at",'
    ' "current_centre_id", "family_name", "given_name", "id", "identity", "identity_key",'
    ' "identity_type", "organisation_id", "pgh_context_id", "pgh_created_at", "pgh_label",'
    ' "pgh_obj_id", "protected") VALUES (NEW."anonymised_on", NEW."birth_date",'
    ' NEW."created_at", NEW."current_centre_id", NEW."family_name", NEW."given_name",'
    ' NEW."id", NEW."identity", NEW."identity_key", NEW."identity_type",'
    ' NEW."organisation_id", _pgh_attach_context(), NOW(), \'{label}\', NEW."id",'
    ' NEW."protected"); RETURN NULL;'
)


class Migration(migrations.Migration):
    dependencies = [("visits", "0005_child_identity_key")]

    operations = [
        pgtrigger.migrations.RemoveTrigger(model_name="accesslog", name="access_log_append_only"),
        pgtrigger.migrations.RemoveTrigger(model_name="child", name="insert_insert"),
        pgtrigger.migrations.RemoveTrigger(model_name="child", name="update_update"),
        migrations.AddField(
            model_name="child",
            name="anonymised_on",
            field=models.DateField(blank=True, editable=False, null=True, verbose_name="gallrad"),
        ),
        migrations.AddField(
            model_name="childevent",
            name="anonymised_on",
            field=models.DateField(blank=True, editable=False, null=True, verbose_name="gallrad"),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="accesslog",
            trigger=pgtrigger.compiler.Trigger(
                name="access_log_append_only",
                sql=core.db_guards.OwnerOnlyIgnoreSql(
                    func=(
                        "IF TG_OP = 'DELETE' AND OLD.at < pg_catalog.now() - interval '5 years'"
                        " THEN RETURN OLD; END IF; RAISE EXCEPTION 'pgtrigger: Cannot update or"
                        " delete rows from % table (rows are kept 5 years)', TG_TABLE_NAME;"
                    ),
                    hash="c6cb18772b2eadd16bea665b6f7d444557e599a6",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_access_log_append_only_11bc0",
                    table="visits_accesslog",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="child",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func=_CHILD_EVENT_INSERT.format(label="insert"),
                    hash="1976a98a14083c581aa83a3e4b0f8437505ebe45",
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
                    func=_CHILD_EVENT_INSERT.format(label="update"),
                    hash="e22af0c00effa8dc092a05806bcf51e0b9d84996",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_e3ed3",
                    table="visits_child",
                    when="AFTER",
                ),
            ),
        ),
    ]
