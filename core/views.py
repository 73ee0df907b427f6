from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views.defaults import page_not_found

from core import services
from core.home import sections_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The start page: what each role does first. Later issues fill it per role (the nurse's
    worklist, the CBHV inbox, finance's grants)."""
    sections = sections_for(request, request.user.scope.roles())  # type: ignore[union-attr]
    return render(request, "core/home.html", {"sections": sections})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: JSON under /api/ (integrators parse it), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Hittades inte."}, status=404)
    return page_not_found(request, exception or Exception())


class OwnPasswordForm(PasswordChangeForm):
    """Django's form; the rules as one plain sentence instead of the validators' HTML list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = _(
            "Minst 12 tecken. Inte ett vanligt lösenord, inte Hembesök och inte likt ditt namn "
            "eller användarnamn. En fras av flera ord är lätt att minnas."
        )
        self.fields["new_password1"].widget = forms.PasswordInput(
            attrs={"autocomplete": "new-password"}
        )


class PasswordChangeView(auth_views.PasswordChangeView):
    """`/accounts/password/`: every user changes her own password. Django keeps this session
    (update_session_auth_hash); `user_password_changed` ends her other sessions and her API
    tokens."""

    form_class = OwnPasswordForm
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        services.user_password_changed(
            user=form.user, keep_session_key=self.request.session.session_key
        )
        messages.success(
            self.request,
            _(
                "Ditt lösenord är bytt. Du är utloggad på andra enheter och dina API-token "
                "gäller inte längre."
            ),
        )
        return response
