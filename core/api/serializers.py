from __future__ import annotations

from rest_framework import serializers

from core.models import Centre, Membership, Partner, Role


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["role", "organisation", "centre"]


class MeSerializer(serializers.Serializer[object]):
    username = serializers.CharField()
    roles = MembershipSerializer(many=True, source="memberships.all")


class CentreSerializer(serializers.ModelSerializer[Centre]):
    class Meta:
        model = Centre
        fields = ["id", "name", "organisation", "hsa_id", "active"]


class PartnerSerializer(serializers.ModelSerializer[Partner]):
    class Meta:
        model = Partner
        fields = ["id", "name", "organisation", "kind"]
