from decimal import Decimal

import pytest
from django.template import Context, Template
from hypothesis import given
from hypothesis import strategies as st

from core.money import format_money, quantize_money


def test_swedish_format_with_non_breaking_thousands():
    assert format_money(Decimal("1349000")) == "1\u00a0349\u00a0000,00\u00a0kr"
    assert format_money(Decimal("-2500")) == "−2\u00a0500,00\u00a0kr"
    assert format_money(Decimal("0.5"), unit=False) == "0,50"


def test_rounding_is_half_up_to_ore():
    assert quantize_money(Decimal("0.005")) == Decimal("0.01")
    assert quantize_money(Decimal("2.345")) == Decimal("2.35")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        quantize_money(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Template("{% load money %}{{ x|money }}").render(Context({"x": 2500.0}))


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_format_round_trips(value):
    text = format_money(value, unit=False).replace("\u00a0", "").replace(",", ".").replace("−", "-")
    assert Decimal(text) == value
