# Role and membership changes are history-tracked (pghistory), and a clinical role granted in
# the admin needs a second administrator's approval (issue 24, item 7).

import django.contrib.auth.validators
import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_api_token"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.CreateModel(
            name="MembershipEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("id", models.BigIntegerField()),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("nurse", "BVC-sjuksköterska"),
                            ("centre_manager", "Vårdcentralschef"),
                            ("cbhv", "CBHV-samordnare"),
                            ("finance", "Ekonomi"),
                            ("log_reviewer", "Logggranskare"),
                            ("admin", "Administratör"),
                        ],
                        max_length=20,
                        verbose_name="roll",
                    ),
                ),
                (
                    "approved_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="godkänd"
                    ),
                ),
            ],
            options={
                "verbose_name": "rollhändelse",
                "verbose_name_plural": "rollhistorik",
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="UserEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                (
                    "username",
                    models.CharField(
                        error_messages={"unique": "A user with that username already exists."},
                        help_text="Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.",
                        max_length=150,
                        validators=[django.contrib.auth.validators.UnicodeUsernameValidator()],
                        verbose_name="username",
                    ),
                ),
                (
                    "is_active",
                    models.BooleanField(
                        default=True,
                        help_text="Designates whether this user should be treated as active. Unselect this instead of deleting accounts.",
                        verbose_name="active",
                    ),
                ),
                (
                    "is_staff",
                    models.BooleanField(
                        default=False,
                        help_text="Designates whether the user can log into this admin site.",
                        verbose_name="staff status",
                    ),
                ),
                (
                    "is_superuser",
                    models.BooleanField(
                        default=False,
                        help_text="Designates that this user has all permissions without explicitly assigning them.",
                        verbose_name="superuser status",
                    ),
                ),
            ],
            options={
                "verbose_name": "användarhändelse",
                "verbose_name_plural": "användarhistorik",
                "abstract": False,
            },
        ),
        migrations.AddField(
            model_name="membership",
            name="approved_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="godkänd"
            ),
        ),
        migrations.AddField(
            model_name="membership",
            name="approved_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="godkänd av",
            ),
        ),
        migrations.AddField(
            model_name="membership",
            name="granted_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="beviljad av",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membership",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "core_membershipevent" ("approved_at", "approved_by_id", "centre_id", "granted_by_id", "id", "organisation_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "role", "user_id") VALUES (NEW."approved_at", NEW."approved_by_id", NEW."centre_id", NEW."granted_by_id", NEW."id", NEW."organisation_id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."role", NEW."user_id"); RETURN NULL;',
                    hash="e5b23a31c5e358740783da90091e4b277bc18a73",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_ec0e8",
                    table="core_membership",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membership",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "core_membershipevent" ("approved_at", "approved_by_id", "centre_id", "granted_by_id", "id", "organisation_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "role", "user_id") VALUES (NEW."approved_at", NEW."approved_by_id", NEW."centre_id", NEW."granted_by_id", NEW."id", NEW."organisation_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."role", NEW."user_id"); RETURN NULL;',
                    hash="421ee094436107835d9bb4832b8021af3a550266",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_af665",
                    table="core_membership",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membership",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "core_membershipevent" ("approved_at", "approved_by_id", "centre_id", "granted_by_id", "id", "organisation_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "role", "user_id") VALUES (OLD."approved_at", OLD."approved_by_id", OLD."centre_id", OLD."granted_by_id", OLD."id", OLD."organisation_id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."role", OLD."user_id"); RETURN NULL;',
                    hash="115b01c63e7febd8f5574c2932c416d7dd0b7c22",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_bf7cb",
                    table="core_membership",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="user",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "core_userevent" ("is_active", "is_staff", "is_superuser", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "username") VALUES (NEW."is_active", NEW."is_staff", NEW."is_superuser", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."username"); RETURN NULL;',
                    hash="59f07df72d6c0420913b5148c4b2855ed9657641",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_45de6",
                    table="core_user",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="user",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."is_staff" IS DISTINCT FROM (NEW."is_staff") OR OLD."is_superuser" IS DISTINCT FROM (NEW."is_superuser") OR OLD."username" IS DISTINCT FROM (NEW."username"))',
                    func='INSERT INTO "core_userevent" ("is_active", "is_staff", "is_superuser", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "username") VALUES (NEW."is_active", NEW."is_staff", NEW."is_superuser", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."username"); RETURN NULL;',
                    hash="37b88dcad07ef60a841ce318133b65ea0287a14b",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_6ccff",
                    table="core_user",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="user",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "core_userevent" ("is_active", "is_staff", "is_superuser", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "username") VALUES (OLD."is_active", OLD."is_staff", OLD."is_superuser", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."username"); RETURN NULL;',
                    hash="e6818e02b18dfd6677b5af8bfb4e8e45edc44a36",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_1425a",
                    table="core_user",
                    when="AFTER",
                ),
            ),
        ),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("role__in", ["nurse", "centre_manager"]), _negated=True),
                    ("granted_by__isnull", True),
                    models.Q(("granted_by", models.F("user")), _negated=True),
                    _connector="OR",
                ),
                name="core_membership_no_self_granted_clinical_role",
                violation_error_message="Ingen kan ge sig själv en klinisk roll.",
            ),
        ),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("approved_at__isnull", True), ("approved_by__isnull", True)),
                    models.Q(
                        ("role__in", ["nurse", "centre_manager"]),
                        ("approved_at__isnull", False),
                        ("approved_by__isnull", False),
                        ("granted_by__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="core_membership_approval_of_an_admin_grant_of_a_clinical_role",
            ),
        ),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("approved_by__isnull", True),
                    models.Q(
                        models.Q(("approved_by", models.F("user")), _negated=True),
                        models.Q(("approved_by", models.F("granted_by")), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="core_membership_approver_is_neither_grantee_nor_granter",
                violation_error_message="En klinisk roll godkänns av en annan administratör än den som gav den och den som fick den.",
            ),
        ),
        migrations.AddField(
            model_name="membershipevent",
            name="approved_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="godkänd av",
            ),
        ),
        migrations.AddField(
            model_name="membershipevent",
            name="centre",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="core.centre",
                verbose_name="BVC",
            ),
        ),
        migrations.AddField(
            model_name="membershipevent",
            name="granted_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="beviljad av",
            ),
        ),
        migrations.AddField(
            model_name="membershipevent",
            name="organisation",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="core.organisation",
                verbose_name="organisation",
            ),
        ),
        migrations.AddField(
            model_name="membershipevent",
            name="pgh_context",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="pghistory.context",
            ),
        ),
        migrations.AddField(
            model_name="membershipevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="events",
                to="core.membership",
            ),
        ),
        migrations.AddField(
            model_name="membershipevent",
            name="user",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="användare",
            ),
        ),
        migrations.AddField(
            model_name="userevent",
            name="pgh_context",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="pghistory.context",
            ),
        ),
        migrations.AddField(
            model_name="userevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="access_events",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
