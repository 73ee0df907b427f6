"""The second-factor pages (core.second_factor): a code after the password, enrolment at the
first login of a role that needs one, and the QR code that enrolment shows."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core import second_factor
from core.forms import SecondFactorCodeForm
from core.permissions import request_user


def _next(request: HttpRequest) -> str:
    return second_factor.safe_next(request, request.POST.get("next") or request.GET.get("next"))


@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """`/accounts/andra-faktor/`: the code asked at every login."""
    user = request_user(request)
    if second_factor.is_verified(request) or not second_factor.second_factor_required(user):
        return redirect(_next(request))
    if not second_factor.has_second_factor(user):
        target = reverse("second_factor_enrol")
        if request.GET.get("next"):
            target += "?" + request.GET.urlencode()
        return redirect(target)
    form = SecondFactorCodeForm(request.POST or None, recovery=True)
    if request.method == "POST" and form.is_valid():
        device = second_factor.second_factor_verify(user=user, code=form.cleaned_data["code"])
        if device is not None:
            second_factor.mark_verified(request, device)
            return redirect(_next(request))
        form.add_error(
            "code",
            _(
                "Koden stämmer inte. Ta den som appen visar nu; efter flera fel i rad får du "
                "vänta en stund innan nästa försök."
            ),
        )
    return render(
        request,
        "registration/second_factor.html",
        {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """`/accounts/andra-faktor/ny/`: the first login of a role that needs a second factor. The
    page shows a QR code and the secret to type by hand; a code from the app confirms it, and
    the recovery codes are shown this once."""
    user = request_user(request)
    if not second_factor.second_factor_required(user) or second_factor.has_second_factor(user):
        return redirect(_next(request))
    device = second_factor.totp_enrolment_start(user=user)
    form = SecondFactorCodeForm(request.POST or None, recovery=False)
    if request.method == "POST" and form.is_valid():
        codes = second_factor.totp_enrolment_confirm(user=user, code=form.cleaned_data["code"])
        if codes is not None:
            confirmed = second_factor.confirmed_totp(user)
            assert confirmed is not None
            second_factor.mark_verified(request, confirmed)
            return render(
                request,
                "registration/second_factor_codes.html",
                {"codes": codes, "next": _next(request)},
            )
        form.add_error(
            "code", _("Koden stämmer inte. Kontrollera att appen visar Hembesök och försök igen.")
        )
    return render(
        request,
        "registration/second_factor_enrol.html",
        {
            "form": form,
            "secret": second_factor.base32_secret(device),
            "next": request.POST.get("next") or request.GET.get("next", ""),
        },
    )


@login_required
@require_http_methods(["GET"])
def qr(request: HttpRequest) -> HttpResponse:
    """The QR code of the user's device being enrolled, as SVG (made here: no CDN, no
    inline script or style). It carries the secret: the response is no-store like every page."""
    user = request_user(request)
    if second_factor.has_second_factor(user):
        raise Http404
    device = second_factor.totp_enrolment_start(user=user)
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    out = io.BytesIO()
    image.save(out)
    return HttpResponse(out.getvalue(), content_type="image/svg+xml")
