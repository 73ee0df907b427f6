"""One-time form tokens (core/form_tokens.py): the work runs once per user, page and token; a
replay answers the first result and runs nothing; a failed attempt stores nothing; two
concurrent posts with one token run the work once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import QueryDict

from core import form_tokens
from core.form_tokens import TokenFormMixin, once
from core.models import IdempotencyKey, Organisation
from tests.core.factories import OrganisationFactory, UserFactory


def recorder(calls: list[str], name: str, url: str) -> Callable[[], str]:
    """Work that notes that it ran and answers `url`."""

    def work() -> str:
        calls.append(name)
        return url

    return work


def data(**fields: str) -> QueryDict:
    query = QueryDict(mutable=True)
    query.update({"csrfmiddlewaretoken": "x", **fields})
    return query


@pytest.mark.django_db
class TestOnce:
    def test_first_post_runs_the_work_and_stores_its_redirect(self):
        user = UserFactory()
        calls: list[str] = []
        token = uuid.uuid4()
        done = once(
            user=user,
            endpoint="grant_payout",
            token=token,
            data=data(amount="100"),
            work=recorder(calls, "payout", "/bidrag/1/"),
        )
        assert done == form_tokens.Done(redirect="/bidrag/1/", replayed=False)
        assert calls == ["payout"]
        stored = IdempotencyKey.objects.get()
        assert (stored.endpoint, stored.key, stored.response_body, stored.status_code) == (
            "page:grant_payout",
            str(token),
            {"redirect": "/bidrag/1/"},
            303,
        )

    def test_replay_runs_nothing_and_answers_the_first_result(self):
        user = UserFactory()
        calls: list[str] = []
        token = str(uuid.uuid4())

        first = recorder(calls, "/a/", "/a/")
        second = recorder(calls, "/b/", "/b/")
        once(user=user, endpoint="p", token=token, data=data(amount="1"), work=first)
        again = once(user=user, endpoint="p", token=token, data=data(amount="1"), work=second)
        assert again == form_tokens.Done(redirect="/a/", replayed=True, same_form=True)
        assert calls == ["/a/"]

    def test_replay_with_changed_fields_still_runs_nothing(self):
        user = UserFactory()
        token = uuid.uuid4()
        once(user=user, endpoint="p", token=token, data=data(amount="1"), work=lambda: "/a/")
        changed = once(
            user=user, endpoint="p", token=token, data=data(amount="2"), work=lambda: "/b/"
        )
        assert (changed.redirect, changed.replayed, changed.same_form) == ("/a/", True, False)
        assert IdempotencyKey.objects.count() == 1

    def test_the_csrf_token_is_not_part_of_the_form(self):
        assert form_tokens.form_hash(data(a="1")) == form_tokens.form_hash(
            QueryDict("a=1&csrfmiddlewaretoken=other&token=abc")
        )
        assert form_tokens.form_hash(data(a="1")) != form_tokens.form_hash(data(a="2"))

    def test_failed_work_stores_nothing_and_the_token_stays_usable(self):
        user = UserFactory()
        token = uuid.uuid4()

        def refuse() -> str:
            OrganisationFactory()  # written, then rolled back with the key row
            raise ValidationError({"amount": ["för mycket"]})

        before = Organisation.objects.count()
        with pytest.raises(ValidationError):
            once(user=user, endpoint="p", token=token, data=data(), work=refuse)
        assert not IdempotencyKey.objects.exists()
        assert Organisation.objects.count() == before
        done = once(user=user, endpoint="p", token=token, data=data(), work=lambda: "/ok/")
        assert not done.replayed

    def test_tokens_are_per_user_and_page(self):
        first, second = UserFactory(), UserFactory()
        token = uuid.uuid4()
        calls: list[str] = []
        for user, endpoint in [(first, "p"), (second, "p"), (first, "q")]:
            once(
                user=user,
                endpoint=endpoint,
                token=token,
                data=data(),
                work=recorder(calls, endpoint, "/"),
            )
        assert calls == ["p", "p", "q"]


class Form(TokenFormMixin):
    pass


def test_an_unbound_form_gets_a_fresh_token_each_time():
    one, two = Form(), Form()
    assert uuid.UUID(one.initial["token"]) != uuid.UUID(two.initial["token"])
    assert 'type="hidden"' in str(one["token"])


@pytest.mark.parametrize("value", ["", "not-a-uuid"])
def test_a_missing_or_bad_token_is_a_form_error(value):
    form = Form({"token": value})
    assert not form.is_valid()
    assert "token" in form.errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_token_run_the_work_once():
    user = UserFactory()
    token = uuid.uuid4()
    barrier = threading.Barrier(2)
    results: list[form_tokens.Done] = []
    ran: list[int] = []

    def work() -> str:
        OrganisationFactory(name="Betald en gång")
        ran.append(1)
        # Hold the key row until the other post has certainly tried to insert it.
        threading.Event().wait(0.5)
        return "/first/"

    def worker() -> None:
        try:
            barrier.wait()
            results.append(once(user=user, endpoint="p", token=token, data=data(), work=work))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert ran == [1]
    assert sorted(r.replayed for r in results) == [False, True]
    assert {r.redirect for r in results} == {"/first/"}
    assert Organisation.objects.filter(name="Betald en gång").count() == 1
    assert IdempotencyKey.objects.count() == 1
