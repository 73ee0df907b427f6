"""Response headers that every page and API answer carries (issue 24, item 3)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    """`Cache-Control: no-store, private` on every response that reaches the application: pages
    and API answers may carry a child's data (API.md, "Browser pages"), and a shared tablet in
    a family's home must not keep a copy in its browser cache, nor a proxy in between. Whether
    a given page shows a child is not worth deciding per view: the pages are small and
    rendered per user anyway. A view that sets its own Cache-Control keeps it (the report
    download sets no-store itself). Static files never get here: whitenoise answers them
    earlier in MIDDLEWARE, with their own long-lived caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
