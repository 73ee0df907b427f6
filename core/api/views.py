from __future__ import annotations

from django.contrib.auth import authenticate, user_logged_in, user_login_failed
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import second_factor, services
from core.api.serializers import (
    ApiTokenSerializer,
    CentreSerializer,
    MeSerializer,
    PartnerSerializer,
    TokenCreatedSerializer,
    TokenRequestSerializer,
)
from core.models import ApiToken, Centre, Partner, User

LOCKED_OUT = OpenApiResponse(
    inline_serializer("LockedOut", {"detail": serializers.CharField()}),
    description="Too many failed logins for this username from this address (django-axes): "
    "locked for 15 minutes.",
)


class TokenView(APIView):
    """`POST /api/v1/auth/token/` → `{"token", "id", "expires"}`: a new token at each login, its
    key shown this once. Wrong credentials → 400; after five failures within 15 minutes for the
    username from this address, the next attempt → 429 (`core.lockout`)."""

    # Anonymous by design: a browser session must not make the endpoint demand CSRF.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenCreatedSerializer, 429: LOCKED_OUT},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        credentials = TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        # Django's request, not DRF's wrapper: axes marks a locked-out attempt on it, and its
        # middleware turns that mark into the 429 (core.lockout.lockout_response).
        http_request = request._request
        user = authenticate(
            http_request,
            username=credentials.validated_data["username"],
            password=credentials.validated_data["password"],
        )
        if user is None:
            raise ValidationError({"non_field_errors": [_("Fel användarnamn eller lösenord.")]})
        # The second factor (API.md): once the user has an authenticator app, the token needs
        # its current code. A missing or wrong one is a failed login for the lockout too, so
        # five guesses lock the username and address as five wrong passwords do.
        if second_factor.has_second_factor(user):
            code = credentials.validated_data.get("otp", "")
            if not code or not second_factor.api_otp_valid(user=user, code=code):
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": credentials.validated_data["username"]},
                    request=http_request,
                )
                message = (
                    _("Ange koden från din autentiseringsapp.")
                    if not code
                    else _("Koden från autentiseringsappen stämmer inte.")
                )
                raise ValidationError({"otp": [message]})
        token, key = services.api_token_create(user=user)
        # What a browser login also does: last_login, and axes resets this pair's failures.
        user_logged_in.send(sender=type(user), request=http_request, user=user)
        return Response(
            TokenCreatedSerializer({"token": key, "id": token.id, "expires": token.expires}).data
        )


def _own_live_tokens(request: Request) -> QuerySet[ApiToken]:
    user = request.user
    if not isinstance(user, User):  # the schema generator calls views anonymously
        return ApiToken.objects.none()
    return ApiToken.objects.live(user)


class TokenList(generics.ListAPIView[ApiToken]):
    """`GET /api/v1/auth/tokens/`: the caller's own live tokens, newest first, without keys."""

    serializer_class = ApiTokenSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[ApiToken]:
        return _own_live_tokens(self.request)


class TokenDetail(generics.DestroyAPIView[ApiToken]):
    """`DELETE /api/v1/auth/tokens/{id}/` → 204: revoke one of her own tokens (someone else's,
    or one already ended → 404). Revoking the token of the request itself is allowed."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self) -> QuerySet[ApiToken]:
        return _own_live_tokens(self.request)

    def perform_destroy(self, instance: ApiToken) -> None:
        services.api_token_revoke(token=instance)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = User.objects.prefetch_related("memberships").get(pk=request.user.pk or 0)
        return Response(MeSerializer(user).data)


class CentreList(generics.ListAPIView[Centre]):
    """Which centres a user sees. Not routed here: `funding.api.centres.CentreList` serves
    `centres/` with each centre's child CNI and fixed compensation, on this base."""

    serializer_class = CentreSerializer
    cursor_ordering = ("name", "id")

    def get_queryset(self) -> QuerySet[Centre]:
        return Centre.objects.for_user(self.request.user)


class PartnerList(generics.ListAPIView[Partner]):
    serializer_class = PartnerSerializer
    cursor_ordering = ("name", "id")

    def get_queryset(self) -> QuerySet[Partner]:
        return Partner.objects.for_user(self.request.user)


class ApiRoot(APIView):
    """The entry point of API v1: where the collections are."""

    @extend_schema(
        responses=inline_serializer(
            "ApiRoot",
            {
                name: serializers.URLField()
                for name in ["me", "centres", "partners", "schema", "docs"]
            },
        ),
    )
    def get(self, request: Request) -> Response:
        from django.urls import reverse

        links = {
            "me": "api-me",
            "centres": "api-centres",
            "partners": "api-partners",
            "schema": "api-schema",
            "docs": "api-docs",
        }
        return Response(
            {key: request.build_absolute_uri(reverse(name)) for key, name in links.items()}
        )


class CentreDetail(generics.RetrieveAPIView[Centre]):
    """Base of `funding.api.centres.CentreDetail` (not routed here)."""

    serializer_class = CentreSerializer

    def get_queryset(self) -> QuerySet[Centre]:
        return Centre.objects.for_user(self.request.user)
