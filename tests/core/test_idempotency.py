"""`core.api.idempotency.idempotent()` (API.md, "Idempotency"): a replay answers the stored
status and body and runs nothing; another body with the same key is 409; only successes are
stored; concurrent requests with one key run the work once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from core.api.idempotency import idempotent
from core.models import IdempotencyKey
from tests.core.factories import UserFactory

factory = APIRequestFactory()


class Counting(APIView):
    """Answers 201 with a running number (or the status asked for in the body)."""

    calls = 0
    required = False

    def post(self, request: Request) -> Response:
        def run() -> Response:
            type(self).calls += 1
            data: Any = request.data
            code = int(data.get("status", 201))
            if code == 500:
                raise RuntimeError("boom")
            return Response({"call": type(self).calls, "echo": request.data}, status=code)

        return idempotent(request, run, required=self.required)


@pytest.fixture
def view():
    Counting.calls = 0
    Counting.required = False
    return Counting.as_view()


def call(view: Any, user: Any, data: Any, key: str | None = None, path: str = "/x/") -> Response:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    request = factory.post(path, data, format="json", **headers)
    force_authenticate(request, user=user)
    return view(request)


@pytest.mark.django_db
class TestIdempotent:
    def test_without_a_key_every_request_runs(self, view):
        user = UserFactory()
        assert call(view, user, {}).data["call"] == 1
        assert call(view, user, {}).data["call"] == 2
        assert not IdempotencyKey.objects.exists()

    def test_a_required_key_that_is_missing_is_400(self, view):
        Counting.required = True
        response = call(view, UserFactory(), {})
        assert response.status_code == 400
        assert "Idempotency-Key" in response.data
        assert Counting.calls == 0

    @pytest.mark.parametrize("key", ["", "   ", "x" * 101])
    def test_blank_or_long_keys_are_400(self, view, key):
        assert call(view, UserFactory(), {}, key).status_code == 400
        assert Counting.calls == 0

    def test_a_key_of_100_characters_is_fine(self, view):
        assert call(view, UserFactory(), {}, "x" * 100).status_code == 201

    def test_a_replay_answers_the_stored_response_and_runs_nothing(self, view):
        user = UserFactory()
        first = call(view, user, {"a": 1, "b": "2.00"}, "k")
        again = call(view, user, {"b": "2.00", "a": 1}, "k")  # key order does not matter
        assert first.status_code == again.status_code == 201
        assert again.data == {"call": 1, "echo": {"a": 1, "b": "2.00"}}
        assert again["Idempotent-Replayed"] == "true"
        assert Counting.calls == 1

    def test_another_body_with_the_same_key_is_409(self, view):
        user = UserFactory()
        call(view, user, {"a": 1}, "k")
        response = call(view, user, {"a": 2}, "k")
        assert response.status_code == 409
        assert "detail" in response.data
        assert Counting.calls == 1

    def test_outside_a_route_each_path_is_its_own_endpoint(self, view):
        # (Routed views share the route's name; tests/funding/test_ledger_api.py has the 409
        # for one key sent to two grants' payouts.)
        user = UserFactory()
        call(view, user, {"a": 1}, "k", path="/one/")
        assert call(view, user, {"a": 1}, "k", path="/two/").data["call"] == 2

    def test_keys_are_per_user(self, view):
        call(view, UserFactory(), {}, "k")
        assert call(view, UserFactory(), {}, "k").data["call"] == 2

    def test_errors_are_not_stored(self, view):
        user = UserFactory()
        assert call(view, user, {"status": 400}, "k").status_code == 400
        assert not IdempotencyKey.objects.exists()
        with pytest.raises(RuntimeError):
            call(view, user, {"status": 500}, "k")
        assert not IdempotencyKey.objects.exists()
        assert call(view, user, {"status": 201}, "k").status_code == 201
        assert IdempotencyKey.objects.get().status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_run_once():
    user = UserFactory()
    barrier = threading.Barrier(2)
    entered = threading.Event()
    responses: list[Response] = []

    class Slow(APIView):
        def post(self, request: Request) -> Response:
            def run() -> Response:
                entered.set()
                # Hold the key row until the other request has certainly tried to insert it.
                threading.Event().wait(0.5)
                return Response({"id": IdempotencyKey.objects.count()}, status=201)

            return idempotent(request, run)

    slow = Slow.as_view()

    def worker() -> None:
        try:
            barrier.wait()
            responses.append(call(slow, user, {"a": 1}, "k"))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert entered.is_set()
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].data == responses[1].data
    assert IdempotencyKey.objects.count() == 1
