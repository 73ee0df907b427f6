from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import CentreSerializer, MeSerializer, PartnerSerializer
from core.models import Centre, Partner, User


class TokenView(ObtainAuthToken):
    """`POST /api/v1/auth/token/` → `{"token"}`; wrong credentials → 400."""

    permission_classes = [AllowAny]
    renderer_classes = generics.GenericAPIView.renderer_classes
    parser_classes = generics.GenericAPIView.parser_classes

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = User.objects.prefetch_related("memberships").get(pk=request.user.pk or 0)
        return Response(MeSerializer(user).data)


class CentreList(generics.ListAPIView[Centre]):
    """Which centres a user sees. Not routed here: `funding.api.views.CentreList` serves
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
    """Base of `funding.api.views.CentreDetail` (not routed here)."""

    serializer_class = CentreSerializer

    def get_queryset(self) -> QuerySet[Centre]:
        return Centre.objects.for_user(self.request.user)
