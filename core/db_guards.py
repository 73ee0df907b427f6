"""Database triggers that the application's own role cannot switch off.

pgtrigger lets a session skip a trigger by setting `pgtrigger.ignore`, a setting any role may
set; that would let the application's role undo an append-only guard with one statement. These
triggers honour it only for a member of the table's owning role (who could disable the trigger
anyway: migrations, the tests' flush), never for the application's role. Used by the money
records (funding) and the access log (visits). Names are schema-qualified so that a temporary
table or function cannot stand in for them.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from pgtrigger import compiler

_PGTRIGGER_IGNORE = "IF ({ignore_func_name}(TG_NAME) IS TRUE) THEN"
_OWNER_ONLY_IGNORE = (
    "IF ({ignore_func_name}(TG_NAME) IS TRUE AND pg_catalog.pg_has_role("
    "(SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID), 'MEMBER')) THEN"
)


class OwnerOnlyIgnoreSql(compiler.UpsertTriggerSql):
    def get_template(self) -> str:
        template = super().get_template()
        if _PGTRIGGER_IGNORE not in template:  # pragma: no cover - a pgtrigger upgrade
            raise RuntimeError("pgtrigger's trigger template changed; review OwnerOnlyIgnoreSql")
        return template.replace(_PGTRIGGER_IGNORE, _OWNER_ONLY_IGNORE)


class _OwnerOnlyIgnore(pgtrigger.Trigger):
    def compile(self, model: models.Model) -> compiler.Trigger:
        compiled = super().compile(model)
        return compiler.Trigger(name=compiled.name, sql=OwnerOnlyIgnoreSql(**compiled.sql.kwargs))


class Guard(_OwnerOnlyIgnore):
    """A trigger the application's role cannot ignore."""


class GuardProtect(_OwnerOnlyIgnore, pgtrigger.Protect):
    """pgtrigger.Protect that the application's role cannot ignore."""
