"""Form building blocks shared by the apps' pages: widgets, the money and year fields, the
organisation choice, and the form whose input goes to a service. Forms parse input only; the
rules live in services, whose ValidationError (a dict by field) `ServiceForm` shows on the
fields it names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from core.dates import MAX_YEAR
from core.models import Organisation
from core.money import MoneyFormatError, parse_typed_money


class DateInput(forms.DateInput):
    """The browser's date picker; the value is always ISO (what `type=date` expects)."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def decimal_input() -> forms.TextInput:
    # A text field with a numeric keypad: Swedish users type a decimal comma, which
    # `type=number` refuses in some browsers; `localize=True` accepts both comma and point.
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})


class Radios(forms.RadioSelect):
    """Options as large touch targets (`div.choices` in app.css)."""

    def __init__(self, attrs: dict[str, Any] | None = None, choices: Any = ()) -> None:
        super().__init__(attrs={"class": "choices", **(attrs or {})}, choices=choices)


class Checkboxes(forms.CheckboxSelectMultiple):
    """Several options as large touch targets (`div.choices` in app.css)."""

    def __init__(self, attrs: dict[str, Any] | None = None, choices: Any = ()) -> None:
        super().__init__(attrs={"class": "choices", **(attrs or {})}, choices=choices)


class ServiceForm(forms.Form):
    """A form whose input goes to a service: service errors are shown on the fields they name;
    errors about things the form does not show (or shows hidden) on the form as a whole."""

    # Service error keys that are not form fields of the same name.
    error_aliases: Mapping[str, str] = {}

    def add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        for key, messages in exc.message_dict.items():
            name = self.error_aliases.get(key, key)
            if name in self.fields and not self.fields[name].widget.is_hidden:
                self.add_error(name, messages)
            else:
                self.add_error(None, messages)


class OrganisationChoiceMixin(forms.Form):
    """An `organisation` field, hidden (and fixed) when the user works for only one."""

    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.none(), empty_label=None
    )

    _only: Organisation | None = None

    def set_organisations(self, organisations: QuerySet[Organisation]) -> None:
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organisations
        if len(organisations) == 1:
            self._only = organisations[0]
            field.widget = forms.HiddenInput()
            field.initial = self._only.pk
            field.required = False

    def clean_organisation(self) -> Organisation:
        organisation = self.cleaned_data.get("organisation") or self._only
        if organisation is None:
            raise ValidationError(_("Välj organisation."))
        assert isinstance(organisation, Organisation)
        return organisation


class MoneyField(forms.DecimalField):
    """Kronor as people write them: `1 349 000,50`, `1349000.50`. Spaces (also non-breaking,
    as the money filter writes them) are thousands separators and are dropped; the rest is the
    API's strict rule (`core.money.parse_typed_money`): no exponents, `_` or other digit
    systems, at most two decimals. Digits and bounds are then checked as by DecimalField."""

    default_error_messages = {
        "invalid": _("Ange beloppet med siffrorna 0–9 och högst två decimaler, t.ex. 2 500,00."),
    }

    def to_python(self, value: Any) -> Any:  # Decimal | None (the stubs say int)
        if value in self.empty_values:
            return None
        try:
            return parse_typed_money(str(value))
        except MoneyFormatError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def money_field(label: Any, **kwargs: Any) -> MoneyField:
    return MoneyField(
        label=label,
        max_digits=14,
        decimal_places=2,
        localize=True,
        widget=decimal_input(),
        **kwargs,
    )


def year_field(label: Any = None, **kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(
        label=label or _("År"),
        min_value=2000,
        max_value=MAX_YEAR,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        **kwargs,
    )


class SecondFactorCodeForm(forms.Form):
    """A code from the authenticator app (six digits; spaces are fine), or a recovery code."""

    code = forms.CharField(
        label=_("Kod"),
        max_length=20,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args: Any, recovery: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["code"]
        if recovery:
            field.help_text = _(
                "Sex siffror från din autentiseringsapp, eller en av dina reservkoder."
            )
        else:
            field.help_text = _("Sex siffror från appen, för att visa att den är rätt inställd.")
            field.widget.attrs["inputmode"] = "numeric"
