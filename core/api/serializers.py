from __future__ import annotations

from rest_framework import serializers

from core.models import ApiToken, Centre, Membership, Partner, Role


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["role", "organisation", "centre"]


class MeSerializer(serializers.Serializer[object]):
    username = serializers.CharField()
    roles = MembershipSerializer(many=True, source="memberships.in_force")


class CentreSerializer(serializers.ModelSerializer[Centre]):
    class Meta:
        model = Centre
        fields = ["id", "name", "organisation", "hsa_id", "active"]


class PartnerSerializer(serializers.ModelSerializer[Partner]):
    class Meta:
        model = Partner
        fields = ["id", "name", "organisation", "kind"]


# --- Sign-in and API tokens ---------------------------------------------------------------------
class TokenRequestSerializer(serializers.Serializer[object]):
    """What `POST /api/v1/auth/token/` takes: `otp`, the current code of the authenticator
    app, from a user who has enrolled one (core.second_factor)."""

    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text="The current code of the user's authenticator app; required once she has one.",
    )


class TokenCreatedSerializer(serializers.Serializer[object]):
    token = serializers.CharField(help_text="The key; shown this once, never stored.")
    id = serializers.UUIDField()
    expires = serializers.DateTimeField()


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token as its user sees it in the list: never the key (only its digest is stored)."""

    class Meta:
        model = ApiToken
        fields = ["id", "created", "expires", "last_used"]
        read_only_fields = fields
