"""The forms of a hosted agent's pages: hosting it (a strategy, its configuration drawn from the strategy's JSON
Schema, a schedule, triggers, budgets, domains), stopping it, and running it now.

The forms type what was typed: credits to micro-credits (the budgets, and a strategy's `stake`, which its schema
counts in micro-credits), percentage points to a price move, empty optional settings to "the strategy's default".
The schema's bounds are hints to the browser here (min, max, step): the service checks the configuration against
the schema and refuses with the property at fault, which `show_refusal` puts beside its field. One checker.
"""

import uuid
from decimal import Decimal

from django import forms

from apps.agents.strategies import REGISTRY, Strategy
from apps.core.amounts import CREDIT
from apps.core.errors import ApplicationError
from apps.markets.models import Domain

MICRO = Decimal("0.000001")
PERCENT = Decimal(100)
# Configuration properties that are micro-credits in a strategy's schema: typed and shown in credits.
MONEY = frozenset({"stake"})
CONFIG = "config_"  # a configuration property's form field: config_<property>
WRITE_ONLY = "secret_"  # a secret's form field: secret_<name>
BUDGETS = ("budget_per_run", "budget_per_day", "budget_per_position")
LONG_TEXT = 200


def offered_strategies() -> list[type[Strategy]]:
    """The strategies an owner may choose now, in the registry's order."""
    return [strategy for strategy in REGISTRY.values() if strategy.offered()]


def credits_text(micro: int) -> str:
    """Micro-credits as an input takes credits back: 5_000_000 -> '5', 2_500_000 -> '2.5'."""
    return format((Decimal(micro) / CREDIT).normalize(), "f")


def _number(value: Decimal) -> int | float:
    """A number as JSON holds it: 10 stays an integer, 0.05 a float."""
    return int(value) if value == value.to_integral_value() else float(value)


def _secret_label(name: str) -> str:
    return {"api_key": "API key"}.get(name, name.replace("_", " ").capitalize())


class ConfigField:
    """One property of a strategy's configuration schema as a form field, and the value typed back as JSON."""

    def __init__(self, name: str, spec: dict, *, required: bool) -> None:
        self.name, self.spec, self.required = name, spec, required
        self.kind = spec.get("type")
        self.money = name in MONEY and self.kind == "integer"

    def form_field(self) -> forms.Field:
        spec = self.spec
        label = spec.get("title") or self.name.replace("_", " ").capitalize()
        if self.kind == "boolean":
            return forms.BooleanField(label=label, required=False)
        if self.kind in ("integer", "number"):
            bounds = {"min": spec.get("minimum"), "max": spec.get("maximum")}
            whole = self.kind == "integer" and not self.money
            attrs = {"step": "1" if whole else "any", "inputmode": "numeric" if whole else "decimal"}
            if self.money:
                label = label.replace("micro-credits", "credits")
                label = label if "credits" in label else f"{label} (credits)"
                bounds = {k: None if v is None else credits_text(v) for k, v in bounds.items()}
                attrs["step"] = str(MICRO)
            attrs.update({k: v for k, v in bounds.items() if v is not None})
            if self.kind == "integer" and not self.money:
                return forms.IntegerField(label=label, required=self.required, widget=forms.NumberInput(attrs))
            return forms.DecimalField(
                label=label,
                required=self.required,
                max_digits=None,
                decimal_places=6 if self.money else None,
                widget=forms.NumberInput(attrs),
            )
        attrs = {"autocomplete": "off"}
        if isinstance(spec.get("maxLength"), int):
            attrs["maxlength"] = spec["maxLength"]
        if isinstance(spec.get("minLength"), int):
            attrs["minlength"] = spec["minLength"]
        widget = forms.URLInput(attrs) if spec.get("format") == "uri" else forms.TextInput(attrs)
        if isinstance(spec.get("maxLength"), int) and spec["maxLength"] > LONG_TEXT and spec.get("format") != "uri":
            widget = forms.Textarea({**attrs, "rows": 3})
        return forms.CharField(label=label, required=self.required, strip=True, widget=widget)

    def initial(self, value):
        if value is None:
            return None
        if self.money and isinstance(value, int):
            return credits_text(value)
        return value

    def parse(self, cleaned):
        """The value for the configuration, or None for an empty optional field (the strategy's default)."""
        if cleaned in (None, "") and self.kind != "boolean":
            return None
        if self.money:
            return int(cleaned * CREDIT)
        if self.kind == "number":
            return _number(cleaned)
        return cleaned


def _budget_field(label: str, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        min_value=Decimal(0),
        max_digits=16,
        decimal_places=6,
        error_messages={
            "min_value": "A budget is 0 credits or more.",
            "max_decimal_places": "A credit has 6 decimal places at most.",
        },
        widget=forms.TextInput({"inputmode": "decimal", "autocomplete": "off", "placeholder": "10"}),
    )


class HostingForm(forms.Form):
    """Host an agent, or change how it is hosted. Its configuration's fields are those of the chosen strategy
    (the posted one, else the one it is hosted with, else the first offered)."""

    strategy = forms.ChoiceField(
        label="Strategy",
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "No such strategy: choose one of those listed."},
    )
    every_minutes = forms.IntegerField(
        label="Run every (minutes)",
        required=False,
        widget=forms.NumberInput({"min": 1, "max": 10080, "step": 1, "placeholder": "60"}),
        help_text="Empty: only on the events below.",
    )
    on_claim_opened = forms.BooleanField(label="Run when a claim opens in its domains", required=False)
    on_price_move = forms.DecimalField(
        label="Run when a price moves by more than (percentage points)",
        required=False,
        max_digits=None,
        decimal_places=1,
        min_value=Decimal("0.1"),
        max_value=Decimal("99.9"),
        error_messages={
            "min_value": "Enter 0.1 to 99.9 percentage points.",
            "max_value": "Enter 0.1 to 99.9 percentage points.",
        },
        widget=forms.NumberInput({"min": "0.1", "max": "99.9", "step": "0.1", "placeholder": "5"}),
        help_text="Measured from the price its last run saw. Empty: never.",
    )
    on_closing_minutes = forms.IntegerField(
        label="Run once on each claim this many minutes before it closes",
        required=False,
        widget=forms.NumberInput({"min": 1, "max": 10080, "step": 1, "placeholder": "30"}),
        help_text="Empty: never.",
    )
    domains = forms.ModelMultipleChoiceField(
        label="Domains it follows",
        queryset=Domain.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every domain.",
    )
    budget_per_run = _budget_field("Budget per run (credits)", "What one run may spend, fees included.")
    budget_per_day = _budget_field("Budget per day (credits)", "What it may spend in a UTC day, fees included.")
    budget_per_position = _budget_field("Budget per claim (credits)", "The most it may have invested in one claim.")

    def __init__(self, data=None, *, hosted=None, strategy: str | None = None) -> None:
        super().__init__(data)
        self.hosted = hosted
        offered = offered_strategies()
        self.fields["strategy"].choices = [(s.key, s.label) for s in offered]
        self.descriptions = {s.key: s.description for s in offered}
        chosen = strategy or (data.get("strategy") if data is not None else None)
        if chosen not in REGISTRY or not REGISTRY[chosen].offered():
            chosen = hosted.strategy if hosted is not None else (offered[0].key if offered else None)
        self.chosen = REGISTRY.get(chosen) if chosen else None
        self.config_fields: dict[str, ConfigField] = {}
        self.secret_names: list[str] = []
        self.stored_secrets: set[str] = set()
        if hosted is not None and self.chosen is not None and hosted.strategy == self.chosen.key:
            self.stored_secrets = set(hosted.secrets or {})
        self._initial(hosted)
        if self.chosen is not None:
            self._add_strategy_fields(self.chosen, hosted)

    def _initial(self, hosted) -> None:
        if hosted is None:
            self.initial.update(strategy=self.chosen.key if self.chosen else None, on_claim_opened=True)
            return
        self.initial.update(
            strategy=self.chosen.key if self.chosen else hosted.strategy,
            every_minutes=hosted.every_minutes,
            on_claim_opened=hosted.on_claim_opened,
            on_price_move=None if hosted.on_price_move is None else (hosted.on_price_move * PERCENT).normalize(),
            on_closing_minutes=hosted.on_closing_minutes,
            domains=list(hosted.domains or []),
            **{name: credits_text(getattr(hosted, name)) for name in BUDGETS},
        )

    def _add_strategy_fields(self, strategy: type[Strategy], hosted) -> None:
        schema = strategy.config_schema()
        required = set(schema.get("required") or [])
        current = hosted.config if hosted is not None and hosted.strategy == strategy.key else {}
        for name, spec in schema.get("properties", {}).items():
            config_field = ConfigField(name, spec, required=name in required)
            key = f"{CONFIG}{name}"
            self.config_fields[key] = config_field
            self.fields[key] = config_field.form_field()
            self.initial[key] = config_field.initial(current.get(name, spec.get("default")))
        for name in strategy.secret_fields:
            key = f"{WRITE_ONLY}{name}"
            self.secret_names.append(name)
            stored = name in self.stored_secrets
            self.fields[key] = forms.CharField(
                label=_secret_label(name),
                required=False,
                strip=True,
                max_length=500,
                widget=forms.PasswordInput({"autocomplete": "new-password"}, render_value=False),
                help_text="Stored: leave empty to keep it." if stored else "Kept secret: never shown again.",
            )

    # --- what the template draws -----------------------------------------------------------------------------

    @property
    def strategy_choices(self) -> list[dict]:
        """The strategies to choose from, with their descriptions."""
        picked = self["strategy"].value()
        return [
            {"key": key, "label": label, "description": self.descriptions[key], "checked": key == picked}
            for key, label in self.fields["strategy"].choices
        ]

    def config_bound_fields(self) -> list:
        secrets = [self[f"{WRITE_ONLY}{name}"] for name in self.secret_names]
        return [self[key] for key in self.config_fields] + secrets

    def setting_fields(self) -> list:
        names = ("every_minutes", "on_claim_opened", "on_price_move", "on_closing_minutes", "domains", *BUDGETS)
        return [self[name] for name in names]

    # --- what the service is given ---------------------------------------------------------------------------

    def settings(self) -> dict:
        """The settings for hosted_agent_create / hosted_agent_update (the form is valid)."""
        data = self.cleaned_data
        config = {}
        for key, config_field in self.config_fields.items():
            value = config_field.parse(data.get(key))
            if value is not None:
                config[config_field.name] = value
        values = {
            "strategy": data["strategy"],
            "config": config,
            "every_minutes": data["every_minutes"],
            "on_claim_opened": data["on_claim_opened"],
            "on_price_move": None if data["on_price_move"] is None else data["on_price_move"] / PERCENT,
            "on_closing_minutes": data["on_closing_minutes"],
            "domains": sorted(domain.slug for domain in data["domains"]),
            **{name: int(data[name] * CREDIT) for name in BUDGETS},
        }
        typed = {name: data.get(f"{WRITE_ONLY}{name}") for name in self.secret_names}
        secrets = {name: value for name, value in typed.items() if value}
        if secrets:
            values["secrets"] = secrets  # none typed: the stored ones stay
        return values

    def show_refusal(self, exc: ApplicationError) -> None:
        """The service's refusal beside the field it is about: a configuration property (`at`), a setting
        (`field`), else above the form."""
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        field = detail.get("field")
        if field == "config" and detail.get("at"):
            field = f"{CONFIG}{str(detail['at']).split('.')[0]}"
        elif field == "secrets":
            field = None
        self.add_error(field if field in self.fields else None, exc.message)


class StopForm(forms.Form):
    reason = forms.CharField(
        label="Reason (optional)", max_length=300, required=False, widget=forms.TextInput({"autocomplete": "off"})
    )


class RunNowForm(forms.Form):
    """Run now, once per rendered form: its key is minted when the form is drawn, so a double click (or a
    resubmitted POST) asks for the same run."""

    key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("key", uuid.uuid4())

    def clean_key(self) -> str:
        return str(self.cleaned_data["key"])
