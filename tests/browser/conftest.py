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


@pytest.fixture
def log_in(page: Any, live_demo: Any) -> Callable[[str], Any]:
    def do(username: str, password: str = "hembesok-demo") -> Any:
        page.goto(f"{live_demo.url}/accounts/login/")
        page.get_by_label("Användarnamn").fill(username)
        page.get_by_label("Lösenord").fill(password)
        page.get_by_role("button", name="Logga in").click()
        return page

    return do
