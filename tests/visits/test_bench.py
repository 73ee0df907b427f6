import io

import pytest
from django.core.management import call_command

from visits.models import AccessLog, Visit

pytestmark = pytest.mark.django_db


def test_bench_visits_prints_ratios_and_leaves_the_data_as_it_was(demo):
    visits, log = Visit.objects.count(), AccessLog.objects.count()
    out = io.StringIO()
    call_command("bench_visits", "--visits", "3", "--reads", "2", stdout=out)
    text = out.getvalue()
    assert "POST /api/v1/visits/" in text
    assert "ratio to /me/" in text
    assert "1 touching visits_enrolment" in text
    assert (Visit.objects.count(), AccessLog.objects.count()) == (visits, log)
