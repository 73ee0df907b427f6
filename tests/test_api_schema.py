"""schemathesis over the served OpenAPI schema: no 5xx, responses as the schema says.

It grows by itself: every endpoint a later issue adds to the schema is exercised here.
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings

from core.models import User
from core.services import api_token_create

# The same document `/api/v1/schema/` serves (a test below checks they agree). It is built at
# import: schemathesis' lazy fixture loader does not work with pytest 9.
SCHEMA = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(None, public=True)))
schema = schemathesis.openapi.from_dict(SCHEMA)
schema.app = get_wsgi_application()

# Each example is sent as several roles, so each role's scoping and permission paths are hit.
PERSONAS = ["nurse_vivalla", "manager_vivalla", "cbhv", "finance"]


@pytest.fixture
def keep_connection(demo):
    # Requests go through the real WSGI handler in this thread. Like Django's test client, keep
    # it from closing the database connection after each request, which would end the test's
    # transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_tokens(demo) -> list[str]:
    return [api_token_create(user=User.objects.get(username=username))[1] for username in PERSONAS]


def test_the_tested_schema_is_the_served_one(client):
    served = client.get("/api/v1/schema/", headers={"accept": "application/json"})
    assert served.status_code == 200
    assert json.loads(served.content)["paths"].keys() == SCHEMA["paths"].keys()


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    # The same examples on every run, so CI answers for the code and not for the draw (they
    # change with the schema); drop it locally to explore new inputs.
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_answers_as_its_schema_says(case, keep_connection, api_tokens):
    for token in api_tokens:
        case.call_and_validate(
            headers={"Authorization": f"Token {token}"},
            # Schema-valid input that breaks a domain rule (wrong password, an id outside the
            # caller's scope, a state conflict) is rightly refused; everything else is checked.
            excluded_checks=[schemathesis.checks.positive_data_acceptance],
        )


# --- Stateful: operations chained through links (issue 24, item 9) --------------------------------
# schemathesis infers the links between operations from the schema (an id a response returns
# goes into the next request's path or body: a grant listed, then its payouts; a sample drawn,
# then its findings; an application created, then submitted) and walks them as a state machine.
STATEFUL_PERSONAS = ["nurse_vivalla", "cbhv", "finance", "logreviewer"]


@pytest.mark.django_db
@pytest.mark.parametrize("username", STATEFUL_PERSONAS)
def test_api_workflows_along_the_schemas_links_never_answer_5xx(keep_connection, demo, username):
    token = api_token_create(user=User.objects.get(username=username))[1]
    steps: list[tuple[str, int, bool]] = []

    class Workflow(schema.as_state_machine()):
        def step(self, input):
            steps.append(("", 0, input.transition is not None))
            return super().step(input)

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Token {token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            where = f"{case.method} {case.formatted_path}"
            steps[-1] = (where, response.status_code, steps[-1][2])
            assert response.status_code < 500, f"{where} as {username}: {response.status_code}"

    Workflow.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    # The walk did chain operations: some steps followed a link from an earlier response.
    assert any(linked for _, _, linked in steps), steps
