"""A review's decision forms, drawn from what its request allows: approve, reject (with a reason), edit (a
field per property of the request's `edit_schema`) and answer (a field per leaf of its `answer_schema`).

The forms parse and type what was typed (credits to micro-credits, yes/no to booleans, JSON to values); the
schema's own bounds (minimum, maxLength, pattern) are only hints to the browser here. The service checks them
against the schema and refuses with the path of what is wrong (409), which `show_refusal` puts beside its
field: one checker, whatever the form lets through.
"""

import json
import re
from decimal import Decimal
from typing import Any

from django import forms

from apps.core.amounts import CREDIT
from apps.core.errors import ApplicationError
from apps.reviews.models import Decision
from apps.reviews.services import REASON_MAX

OMITTED = object()  # an optional property left empty: absent from the value, not null
MICRO = Decimal("0.000001")
LONG_TEXT = 200  # a string allowed more than this is typed in a textarea
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED = {"reason", "decision"}
BOOLEAN_CHOICES = [("true", "Yes"), ("false", "No")]

SUBMIT_LABELS = {
    Decision.APPROVE: "Approve",
    Decision.EDIT: "Approve as edited",
    Decision.REJECT: "Reject",
    Decision.ANSWER: "Send the answer",
}
HEADINGS = {
    Decision.APPROVE: "Approve",
    Decision.EDIT: "Edit, then approve",
    Decision.REJECT: "Reject",
    Decision.ANSWER: "Answer",
}


def _type_of(spec: dict) -> tuple[str | None, bool]:
    """A schema's one type and whether it admits null: {"type": ["string", "null"]} -> ("string", True)."""
    kind = spec.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        return (types[0] if len(types) == 1 else None), "null" in kind
    return kind, False


def _title(name: str, spec: dict) -> str:
    return spec.get("title") or name.replace("_", " ").capitalize()


def _json_value(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


class ValueField:
    """How one value of the schema is typed in, and read back as JSON."""

    def __init__(self, spec: dict, *, money: bool = False) -> None:
        self.spec = spec
        self.kind, self.nullable = _type_of(spec)
        self.money = money and self.kind == "integer"
        self.enum = spec.get("enum") if isinstance(spec.get("enum"), list) else None

    def form_field(self, *, label: str, required: bool, help_text: str = "") -> forms.Field:
        spec = self.spec
        if self.enum is not None:
            choices = [(self._enum_key(v), str(v)) for v in self.enum]
            return forms.ChoiceField(label=label, required=required, choices=choices, widget=forms.RadioSelect)
        if self.kind == "boolean":
            return forms.ChoiceField(label=label, required=required, choices=BOOLEAN_CHOICES, widget=forms.RadioSelect)
        if self.kind in ("integer", "number"):
            attrs = {"step": "1" if self.kind == "integer" else "any"}
            bounds = {"min": spec.get("minimum"), "max": spec.get("maximum")}
            if self.money:
                # Amounts are micro-credits in the schema and credits on the page.
                attrs["step"] = str(MICRO)
                bounds = {k: None if v is None else _credits(v) for k, v in bounds.items()}
                label = f"{label} (credits)"
            attrs.update({k: v for k, v in bounds.items() if v is not None})
            if self.kind == "integer" and not self.money:
                return forms.IntegerField(
                    label=label, required=required, help_text=help_text, widget=forms.NumberInput(attrs)
                )
            return forms.DecimalField(
                label=label,
                required=required,
                help_text=help_text,
                decimal_places=6 if self.money else None,
                widget=forms.NumberInput(attrs),
            )
        if self.kind == "string":
            attrs = {"autocomplete": "off"}
            longest = spec.get("maxLength")
            if isinstance(longest, int):
                attrs["maxlength"] = longest
            if isinstance(spec.get("minLength"), int):
                attrs["minlength"] = spec["minLength"]
            pattern = spec.get("pattern")
            # A browser anchors `pattern` at both ends, a JSON Schema does not: only an anchored one means the same.
            if isinstance(pattern, str) and pattern.startswith("^") and pattern.endswith("$"):
                attrs["pattern"] = pattern
            widget = forms.Textarea({**attrs, "rows": 4}) if isinstance(longest, int) and longest > LONG_TEXT else None
            return forms.CharField(
                label=label,
                required=required,
                help_text=help_text,
                strip=False,
                empty_value=None,
                widget=widget or forms.TextInput(attrs),
            )
        # Anything the form cannot draw (an array, a nested object): typed as JSON.
        return forms.CharField(
            label=f"{label} (JSON)",
            required=required,
            help_text=help_text,
            widget=forms.Textarea({"rows": 4, "class": "mono", "spellcheck": "false"}),
        )

    def _enum_key(self, value) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    def initial(self, value) -> Any:
        if value is None:
            return None
        if self.enum is not None:
            return self._enum_key(value)
        if self.kind == "boolean":
            return "true" if value else "false"
        if self.money and isinstance(value, int):
            return _credits(value)
        if self.kind in ("integer", "number", "string"):
            return value
        return json.dumps(value, indent=2, sort_keys=True)

    def parse(self, cleaned) -> Any:
        """What was typed, as the JSON value the schema checks; OMITTED for an empty optional field."""
        if cleaned in (None, ""):
            return None if self.nullable else OMITTED
        if self.enum is not None:
            return next(v for v in self.enum if self._enum_key(v) == cleaned)
        if self.kind == "boolean":
            return cleaned == "true"
        if self.money:
            return int(cleaned * CREDIT)
        if self.kind == "number":
            return _json_value(cleaned)
        if self.kind in ("integer", "string"):
            return cleaned
        try:
            return json.loads(cleaned)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"This is not JSON: {exc.msg} (line {exc.lineno}).") from None


def _credits(micro: int) -> str:
    """Micro-credits as a number input takes credits back: 20_500_000 -> '20.5' (no thousands separator)."""
    return format((Decimal(micro) / CREDIT).normalize(), "f")


class DecisionForm(forms.Form):
    """One decision's form: its value's fields (edit, answer), then the reason. `kind` picks the form; its
    prefix is the kind, so every decision's form can share the page."""

    def __init__(
        self,
        data=None,
        *,
        kind: str,
        schema: dict | None = None,
        initial_values: dict | None = None,
        money: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(data, prefix=kind)
        self.kind = kind
        self.schema = schema
        self.whole: ValueField | None = None  # a schema that is one value, not an object of named ones
        self.named: dict[str, tuple[str, ValueField]] = {}  # form field -> (property, how it is typed)
        initial_values = initial_values or {}
        if kind in (Decision.EDIT, Decision.ANSWER):
            self._add_value_fields(schema or {}, initial_values, money)
        needs_reason = kind in (Decision.EDIT, Decision.REJECT)
        self.fields["reason"] = forms.CharField(
            label="Reason" if needs_reason else "Note (optional)",
            required=needs_reason,
            max_length=REASON_MAX,
            help_text="The requester reads it." if needs_reason else "",
            widget=forms.Textarea({"rows": 3}),
        )

    @property
    def submit_label(self) -> str:
        return SUBMIT_LABELS[self.kind]

    @property
    def heading(self) -> str:
        return HEADINGS[self.kind]

    def _add_value_fields(self, schema: dict, initial_values: dict, money: frozenset[str]) -> None:
        kind, _ = _type_of(schema)
        properties = schema.get("properties")
        if kind == "object" and isinstance(properties, dict) and properties:
            required = set(schema.get("required") or [])
            for index, (name, spec) in enumerate(properties.items()):
                spec = spec if isinstance(spec, dict) else {}
                value_field = ValueField(spec, money=name in money)
                key = name if FIELD_NAME.match(name) and name not in RESERVED else f"value_{index}"
                self.named[key] = (name, value_field)
                self.fields[key] = value_field.form_field(
                    label=_title(name, spec), required=name in required, help_text=spec.get("description", "")
                )
                self.initial[key] = value_field.initial(initial_values.get(name))
            return
        self.whole = ValueField(schema)
        label = schema.get("title") or ("Your answer" if self.kind == Decision.ANSWER else "The edited payload")
        self.fields["value"] = self.whole.form_field(
            label=label, required=True, help_text=schema.get("description", "")
        )
        self.initial["value"] = self.whole.initial(initial_values or None)

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.kind not in (Decision.EDIT, Decision.ANSWER):
            return cleaned
        if self.whole is not None:
            if "value" in cleaned:
                self._parse_into("value", self.whole, cleaned)
            return cleaned
        value = {}
        for key, (name, value_field) in self.named.items():
            if key in cleaned and (parsed := self._parse_into(key, value_field, cleaned)) is not OMITTED:
                value[name] = parsed
        cleaned["value"] = value
        return cleaned

    def _parse_into(self, key: str, value_field: ValueField, cleaned: dict) -> Any:
        try:
            parsed = value_field.parse(cleaned[key])
        except forms.ValidationError as exc:
            self.add_error(key, exc)
            return OMITTED
        if key == "value":
            cleaned["value"] = None if parsed is OMITTED else parsed
        return parsed

    def decision(self) -> tuple[str, Any, str]:
        """(kind, value, reason) for `review_decide`; the form is valid."""
        return self.kind, self.cleaned_data.get("value"), self.cleaned_data.get("reason") or ""

    def show_refusal(self, exc: ApplicationError) -> str:
        """Put the service's refusal beside the field it is about (by `field`, or by the schema path of what it
        refused); return it when it is about no field, to be shown above the forms."""
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        field = detail.get("field")
        path = detail.get("path")
        if field not in self.fields and isinstance(path, list):
            if self.whole is not None:
                field = "value"
            elif path:
                field = next((key for key, (name, _) in self.named.items() if name == path[0]), None)
        if field in self.fields:
            self.add_error(field, exc.message)
            return ""
        return exc.message


def decision_forms(review, *, bound: DecisionForm | None = None, money: frozenset[str] = frozenset()) -> list:
    """A form for each decision the request allows, in the order it lists them; `bound` (posted, with its
    errors) takes its kind's place. Edit fields start from the payload as it stands."""
    forms_ = []
    for kind in review.decisions:
        if bound is not None and bound.kind == kind:
            forms_.append(bound)
            continue
        forms_.append(
            DecisionForm(
                kind=kind,
                schema=review.edit_schema if kind == Decision.EDIT else review.answer_schema,
                initial_values=editable_values(review.payload) if kind == Decision.EDIT else None,
                money=money,
            )
        )
    return forms_


def editable_values(payload: dict) -> dict:
    """Where an edit's fields start: the payload's order (a paused trade) or values, else the payload itself."""
    for key in ("order", "values"):
        if isinstance(payload.get(key), dict):
            return payload[key]
    return payload if isinstance(payload, dict) else {}
