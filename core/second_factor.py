"""The second factor (issue 24, item 2; API.md "Conventions"): a TOTP app (django-otp) for the
roles that see money, the whole organisation's programme or the access log: finance, CBHV, log
reviewer and admin.

A browser session of such a user is *verified* once she has given a code from her app, or one
of her recovery codes, after the password; until then every page sends her to the second-factor
page (enrolment at the first login, a code at every later one) and the API answers 403 to her
session. A user without a confirmed device gets an API token with her password alone (the demo
users start that way, API.md); with one, the token endpoint wants `otp`.

Recovery codes are a django-otp static device: ten single-use codes, shown once at enrolment.
An admin who resets a user's second factor (a lost phone) removes her devices and ends her
sessions and tokens (`second_factor_reset`); she enrols anew at her next login.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import Role, User
from core.scoping import scope_of
from core.services import user_access_end

# The roles whose users must verify a second factor in the browser (API.md).
SECOND_FACTOR_ROLES = frozenset({Role.FINANCE, Role.CBHV, Role.LOG_REVIEWER, Role.ADMIN})
# The session key that marks a verified session (the device that verified it, by its
# persistent id, as django-otp names it).
VERIFIED = "second_factor_device"
RECOVERY_CODE_COUNT = 10
TOTP_NAME = "Autentiseringsapp"
RECOVERY_NAME = "Reservkoder"


def second_factor_required(user: User) -> bool:
    return bool(scope_of(user).roles() & SECOND_FACTOR_ROLES)


def confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_second_factor(user: User) -> bool:
    exists: bool = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    return exists


def is_verified(request: HttpRequest) -> bool:
    return VERIFIED in request.session


def mark_verified(request: HttpRequest, device: TOTPDevice | StaticDevice) -> None:
    request.session[VERIFIED] = device.persistent_id


def _forget_verification(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    # A password login starts unverified even when Django keeps the session's data (the same
    # user signing in again).
    if request is not None and hasattr(request, "session"):
        request.session.pop(VERIFIED, None)


user_logged_in.connect(_forget_verification, dispatch_uid="core.second_factor.forget")


# --- Enrolment and verification (services) -----------------------------------------------------
def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device, made once: reloading the enrolment page shows the
    same secret, so a scan already made stays good."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def base32_secret(device: TOTPDevice) -> str:
    """The secret as people type it into an app by hand: base32 in groups of four."""
    from base64 import b32encode

    text = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def totp_enrolment_confirm(*, user: User, code: str) -> list[str] | None:
    """Confirm the user's new TOTP device with a code from the app; on success, make ten new
    recovery codes (the old ones end) and return them, to be shown this once. None when the
    code is wrong."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("id")
            .first()
        )
        if device is None or not device.verify_token(_digits(code)):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        StaticDevice.objects.filter(user=user).delete()
        recovery = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=recovery, token=c) for c in codes)
    return codes


def second_factor_verify(*, user: User, code: str) -> TOTPDevice | StaticDevice | None:
    """The device that accepts `code`: the TOTP app's current code, or an unused recovery code
    (which is then used up). Both devices throttle repeated failures (django-otp doubles the
    wait after each)."""
    totp = confirmed_totp(user)
    if totp is not None and totp.verify_token(_digits(code)):
        return totp
    recovery = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if recovery is not None and recovery.verify_token(code.strip().lower()):
        return recovery
    return None


def api_otp_valid(*, user: User, code: str) -> bool:
    """The token endpoint's check (API.md): the current TOTP code of the confirmed device."""
    totp = confirmed_totp(user)
    return totp is not None and totp.verify_token(_digits(code))


def second_factor_reset(*, user: User) -> None:
    """A lost phone: the user's devices go, and with them her sessions and API tokens; she
    enrols anew at her next login."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        user_access_end(user=user)


def _digits(code: str) -> str:
    # People type "123 456" as the app shows it.
    return "".join(code.split())


# --- The gate ------------------------------------------------------------------------------------
# Paths an unverified session may still reach: the second-factor pages themselves, logging out,
# the language switch and the health check. Static files never get here (whitenoise).
def _exempt_paths() -> tuple[str, ...]:
    return (
        reverse("second_factor"),
        reverse("second_factor_enrol"),
        reverse("second_factor_qr"),
        reverse("logout"),
        "/i18n/",
        reverse("healthz"),
    )


class SecondFactorMiddleware:
    """Holds an unverified session of a second-factor role at the second-factor page (pages) or
    answers 403 (API), until she has given a code. Placed after AuthenticationMiddleware and
    the session lifetime check."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = request.user
        if (
            user.is_authenticated
            and not is_verified(request)
            and not request.path.startswith(_exempt_paths())
            and isinstance(user, User)
            and second_factor_required(user)
        ):
            return _hold(request)
        return self.get_response(request)


def _hold(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": _("Ange koden från din autentiseringsapp på inloggningssidan först.")},
            status=403,
        )
    target = reverse("second_factor")
    if request.method == "GET" and request.path != reverse("home"):
        target += "?next=" + quote(request.get_full_path())
    return redirect(target)


def safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("home")
