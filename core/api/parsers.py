"""The API's one JSON parser: bad input is a 400, never a 500 (issue 24, item 9).

DRF's JSONParser lets Python's json module recurse into arbitrarily deep nesting (1 000 levels
end in RecursionError, a 500) and hands on strings with lone UTF-16 surrogates (`"\\ud800"`),
which nothing downstream can encode: the error message that echoes the value, the JSON renderer
and PostgreSQL all fail on them.

- Size, before reading: DRF reads a JSON body through Django's `request.body`, which refuses
  one over DATA_UPLOAD_MAX_MEMORY_SIZE by its Content-Length (`core.api.errors` answers that
  as a 400); this parser checks the length again for a stream that came another way.
- Depth, before parsing: a linear scan of the brackets outside strings.
- Lone surrogates and NUL (which PostgreSQL's text cannot hold), after parsing, in keys too.

Each refusal is a ParseError, which `core.api.errors.exception_handler` answers as 400
`{"non_field_errors": [...]}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

# Far deeper than any request of the API (a visit's `interpreter` object is level 2).
MAX_DEPTH = 32

# A JSON string, unrolled so that a long one is matched without backtracking. An unterminated
# string is not matched: its brackets are then counted, and json.loads refuses the body anyway.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def max_body_size() -> int:
    """Django's own bound for request bodies, so forms and JSON share one limit."""
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)


def body_too_large_message() -> str:
    return _("Anropets innehåll är för stort (högst %(size)s byte).") % {"size": max_body_size()}


def nesting_depth(text: str, *, limit: int) -> int:
    """The deepest nesting of arrays and objects in JSON `text`, counting stops once past
    `limit`. Brackets inside strings do not count."""
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def _storable(value: Any) -> bool:
    """No string anywhere (keys included) holds a lone surrogate or NUL. The depth is bounded
    before this runs, so the recursion is too."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is None
    if isinstance(value, Mapping):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


class BoundedJSONParser(JSONParser):
    max_depth = MAX_DEPTH

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = max_body_size()
        too_large = body_too_large_message()
        request = parser_context.get("request")
        declared = getattr(request, "META", {}).get("CONTENT_LENGTH") if request else None
        if limit and declared and str(declared).isdigit() and int(declared) > limit:
            raise ParseError(too_large)
        if stream is None:
            raise ParseError(_("Anropet saknar innehåll."))
        raw = stream.read(limit + 1) if limit else stream.read()
        if limit and len(raw) > limit:
            raise ParseError(too_large)
        try:
            text = raw.decode(encoding) if isinstance(raw, bytes) else str(raw)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(_("Anropets innehåll är inte giltig UTF-8.")) from exc
        if nesting_depth(text, limit=self.max_depth) > self.max_depth:
            raise ParseError(
                _("JSON får vara nästlad högst %(depth)s nivåer djupt.") % {"depth": self.max_depth}
            )
        try:
            parse_constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(_("Anropets innehåll är inte giltig JSON: %s") % exc) from exc
        if not _storable(data):
            raise ParseError(
                _(
                    "Texten innehåller tecken som inte kan lagras (ett ensamt "
                    "UTF-16-surrogattecken eller NUL)."
                )
            )
        return data
