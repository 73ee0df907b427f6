# Mail is written to an outbox in the transaction that causes it, and sent by Celery after
# commit (issue 25, item 9).

import uuid

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0005_membership_history_and_approval")]

    operations = [
        migrations.CreateModel(
            name="OutgoingMail",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("to", models.EmailField(max_length=254, verbose_name="mottagare")),
                ("subject", models.CharField(max_length=200, verbose_name="ämne")),
                ("body", models.TextField(verbose_name="text")),
                (
                    "created",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, verbose_name="skapat"
                    ),
                ),
                ("sent", models.DateTimeField(blank=True, null=True, verbose_name="skickat")),
                ("attempts", models.PositiveIntegerField(default=0, verbose_name="försök")),
                ("last_error", models.CharField(blank=True, max_length=300, verbose_name="senaste fel")),
            ],
            options={
                "verbose_name": "utgående e-post",
                "verbose_name_plural": "utgående e-post",
                "ordering": ["-created"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("sent__isnull", True)),
                        fields=["created"],
                        name="core_mail_unsent_idx",
                    )
                ],
            },
        ),
    ]
