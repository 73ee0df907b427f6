"""DRF authentication with `core.models.ApiToken`: `Authorization: Token <key>`."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from core.models import ApiToken, User

# `last_used` is written at most this often per token: an UPDATE on every API request would
# double the writes of a busy client for a value nobody needs to the second.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's header parsing (and its OpenAPI description, `tokenAuth`), our token model.

    One answer for every refusal (unknown, expired, revoked, made under an old password, user
    deactivated), so the answer tells nothing about the key."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        refused = exceptions.AuthenticationFailed(_("Ogiltig eller utgången token."))
        token = (
            ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
        )
        if token is None:
            raise refused
        user = token.user
        now = timezone.now()
        if (
            token.expires <= now
            or not user.is_active
            or not constant_time_compare(token.auth_hash, user.get_session_auth_hash())
        ):
            raise refused
        if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
            token.last_used = now
        return user, token
