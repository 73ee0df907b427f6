"""The scoping entry point: what a user may see follows from their memberships.

Every `for_user()` QuerySet method in the project builds on `Scope`; a view never filters by
organisation or centre by hand (tests/test_architecture.py reads the view modules for it). One
query per request loads the memberships in force (cached on the user).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.models import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from core.models import User


@dataclass(frozen=True)
class Assignment:
    """One membership, reduced to what scoping needs."""

    role: str
    organisation_id: uuid.UUID
    centre_id: uuid.UUID | None


@dataclass(frozen=True)
class Scope:
    assignments: tuple[Assignment, ...]

    @classmethod
    def for_user(cls, user: User | AnonymousUser) -> Scope:
        if not user.is_authenticated or not user.is_active:
            return cls(assignments=())
        from core.models import Membership

        # Only memberships in force: a clinical role awaiting a second administrator's
        # approval confers nothing (core.models.MembershipQuerySet.in_force).
        rows = (
            Membership.objects.filter(user_id=user.pk)
            .in_force()
            .values_list("role", "organisation_id", "centre_id")
        )
        return cls(assignments=tuple(Assignment(role, org, centre) for role, org, centre in rows))

    def _matching(self, roles: Iterable[str]) -> list[Assignment]:
        wanted = set(roles) if roles else None
        return [g for g in self.assignments if wanted is None or g.role in wanted]

    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.assignments)

    def has_role(self, *roles: str) -> bool:
        return bool(self._matching(roles))

    def organisation_ids(self, *roles: str) -> frozenset[uuid.UUID]:
        """Organisations where the user holds one of `roles` (any role when none is given)."""
        return frozenset(g.organisation_id for g in self._matching(roles))

    def centre_ids(self, *roles: str) -> frozenset[uuid.UUID]:
        """Centres where the user works as one of `roles` (nurse or centre manager by default)."""
        roles = roles or (Role.NURSE, Role.CENTRE_MANAGER)
        return frozenset(g.centre_id for g in self._matching(roles) if g.centre_id is not None)

    def has_role_in(self, role: str, *, organisation_id: uuid.UUID) -> bool:
        return organisation_id in self.organisation_ids(role)

    def has_role_at(self, role: str, *, centre_id: uuid.UUID) -> bool:
        return centre_id in self.centre_ids(role)


def scope_of(user: User | AnonymousUser) -> Scope:
    """The user's scope, loaded once per request (cached on the user object); empty for
    anonymous users."""
    if not user.is_authenticated:
        return Scope(assignments=())
    return user.scope
