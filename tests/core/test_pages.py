import re

import pytest
from django.urls import reverse

from core.models import User
from tests.core.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password="hembesok-demo"):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_login_page_is_swedish_with_username_and_password_fields(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<html lang="sv">' in html
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert "Logga in" in html


def test_english_is_available(client):
    html = client.get("/accounts/login/", headers={"accept-language": "en"}).content.decode()
    assert '<html lang="en">' in html


def test_login_and_logout(client, demo):
    response = login(client, "nurse_vivalla")
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    html = home.content.decode()
    assert "Sara Lind" in html
    assert "BVC-sjuksköterska" in html
    assert "Logga ut" in html
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_shows_an_error_summary_and_stays_logged_out(client, demo):
    response = login(client, "nurse_vivalla", "wrong")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert client.get("/").status_code == 302


def _nav_links(html: str) -> set[str]:
    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S)
    assert nav
    return set(re.findall(r'href="([^"]+)"', nav.group(0)))


@pytest.mark.parametrize(
    ("username", "expected", "absent"),
    [
        ("nurse_vivalla", {"/"}, {"/admin/", "/api/v1/docs/"}),
        ("admin", {"/", "/admin/", "/api/v1/docs/"}, set()),
        ("finance", {"/", "/api/v1/docs/"}, {"/admin/"}),
        ("cbhv", {"/", "/api/v1/docs/"}, {"/admin/"}),
    ],
)
def test_start_page_shows_the_navigation_of_the_role(client, demo, username, expected, absent):
    # Signed in completely (the second factor of finance, CBHV and admin: test_second_factor).
    client.force_login(User.objects.get(username=username))
    links = _nav_links(client.get("/").content.decode())
    assert expected <= links
    assert not (absent & links)


def test_pages_have_no_inline_script_style_or_event_handlers(client, demo):
    client.force_login(User.objects.get(username="admin"))
    for url in ["/", "/accounts/login/"]:
        html = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url


def test_factory_users_log_in_with_their_password(client):
    from tests.core.factories import UserFactory

    user = UserFactory()
    assert login(client, user.username, PASSWORD).status_code == 302
