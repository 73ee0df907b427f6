"""Browser journeys: pytest-playwright with Debian's Chromium, at a tablet viewport, against
Django's live server. Screenshots of failures go to test-results/ (see pyproject addopts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def live_demo(live_server: Any, transactional_db: None) -> Any:
    from django.core.management import call_command

    call_command("seed_demo", verbosity=0)
    return live_server


def totp_now(secret: str) -> str:
    """The code an authenticator app shows now for the base32 secret on the enrolment page."""
    from base64 import b32decode

    from django_otp.oath import totp

    text = secret.replace(" ", "")
    return f"{totp(b32decode(text + '=' * (-len(text) % 8))):06d}"


@pytest.fixture
def log_in(page: Any, live_demo: Any) -> Callable[..., Any]:
    """Sign in through the login form as a user would; where her role needs a second factor,
    enrol the app at the first login (reading the secret off the page, as one types it into
    the app) and give a recovery code at later ones."""
    recovery: dict[str, list[str]] = {}

    def do(username: str, password: str = "hembesok-demo") -> Any:
        page.goto(f"{live_demo.url}/accounts/login/")
        page.get_by_label("Användarnamn").fill(username)
        page.get_by_label("Lösenord").fill(password)
        page.get_by_role("button", name="Logga in").click()
        page.wait_for_load_state()
        if "/accounts/andra-faktor/ny/" in page.url:
            secret = page.locator("code.secret").inner_text()
            page.get_by_label("Kod").fill(totp_now(secret))
            page.get_by_role("button", name="Bekräfta").click()
            recovery[username] = page.locator(".recovery-codes code").all_inner_texts()
            page.get_by_role("link", name="Jag har sparat koderna, fortsätt").click()
        elif "/accounts/andra-faktor/" in page.url:
            page.get_by_label("Kod").fill(recovery[username].pop())
            page.get_by_role("button", name="Fortsätt").click()
        return page

    return do
