"""Password rules beyond Django's validators (AUTH_PASSWORD_VALIDATORS).

Django's CommonPasswordValidator refuses the 20 000 most common passwords of a breach corpus
(shipped with Django, no network). That list is English; this validator adds what it cannot
know: the product's own name (and so the demo password `hembesok-demo`), and Swedish words that
people pad with digits and signs to reach the length ("Sommar2024!!").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Words a password must not contain anywhere: the product's name ("hembesök" folds to the first).
PRODUCT_WORDS = ("hembesok", "hembesoek")

# Common Swedish words (and keyboard runs), folded, that are refused when the password is
# nothing but one of them with digits and signs around it.
_SWEDISH = """
    losenord losen hemlig hemligt sommar vinter varen hosten host hejsan hejhej valkommen
    sverige svenska stockholm goteborg malmo orebro linkoping uppsala vasteras norrkoping
    januari februari mars april maj juni juli augusti september oktober november december
    mandag tisdag onsdag torsdag fredag lordag sondag karlek alskar familjen barnen mamma pappa
    region kommun vardcentral sjukskoterska bvc barnhalsovard kalleanka fotboll qwerty
    qwertyuiop asdfghjkl zxcvbnm abc admin administrator
"""
SWEDISH_WORDS = frozenset(_SWEDISH.split())

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)


def _fold(text: str) -> str:
    """Lower case without diacritics (ö → o, å → a), so "HemBesök" and "hembesok" are one."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class LocalWordsValidator:
    """Refuses the product's name in any spelling, and a common Swedish word padded with digits
    and signs. Messages in Swedish (gettext)."""

    def validate(self, password: str, user: Any = None) -> None:
        folded = _fold(password)
        # Letters only, as typed and with digits read as letters ("h3mb3s0k").
        readings = {re.sub(r"[^a-z]", "", text) for text in (folded, folded.translate(_LEET))}
        if any(word in reading for word in PRODUCT_WORDS for reading in readings):
            raise ValidationError(
                _("Lösenordet får inte innehålla produktens namn (Hembesök)."),
                code="password_product_word",
            )
        if readings & SWEDISH_WORDS:
            raise ValidationError(
                _(
                    "Lösenordet är ett vanligt ord med siffror eller tecken runt. Välj hellre "
                    "en fras av flera ord."
                ),
                code="password_common_word",
            )

    def get_help_text(self) -> str:
        return _("Lösenordet får inte innehålla Hembesök eller vara ett vanligt ord med siffror.")
