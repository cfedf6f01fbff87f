"""The "post a claim" form: it parses what was typed (credits, UTC dates, comma-separated tags); the rules
are the service's. As the person types, `services.claim_problems` checks the claim without writing it, and
each problem shows on its field in the browser's words; the subsidy shown is the service's own
(`lmsr.initial_subsidy`). On submit `claim_create` checks again, and what it refuses shows on the field it
names.
"""

import uuid
from decimal import Decimal

from django import forms
from django.conf import settings

from apps.core.amounts import credits, format_credits
from apps.markets import lmsr, selectors, services
from apps.markets.services import CRITERIA_MAX, TAG_MAX, TAGS_MAX, TITLE_MAX, TITLE_MIN

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
DEFAULT_LIQUIDITY_CREDITS = Decimal(100)

MESSAGES = {
    "title_required": "Give the claim a title: the question traders answer YES or NO.",
    "criteria_required": "Resolution criteria are required: say exactly what makes this claim YES or NO.",
    "domain_required": "Choose the domain this claim belongs to.",
    "closes_at_required": "Choose when trading closes.",
    "resolve_by_required": "Choose the date by which the outcome will be known.",
    "closes_at_past": "Trading must close in the future.",
    "resolve_before_close": "The resolution date must not be before trading closes.",
    "liquidity_required": "Choose the liquidity (b) of the market.",
}


def parse_tags(raw: str) -> list[str]:
    """'AI, Replication ,ai' -> ['ai', 'replication']: as claim_create stores them (lower-cased, distinct, sorted)."""
    return services.claim_tags([tag for tag in (raw or "").split(",") if tag.strip()])


def _problem_message(problem: services.ClaimProblem) -> str:
    """The service's problem in the browser's words."""
    low, high = services.liquidity_bounds()
    horizon = settings.CREDENCE_MAX_CLAIM_HORIZON_DAYS
    return {
        "closes_at_past": MESSAGES["closes_at_past"],
        "closes_at_horizon": f"Trading may close at most {horizon:,} days from now.",
        "resolve_before_close": MESSAGES["resolve_before_close"],
        "liquidity_bounds": f"Liquidity must be between {format_credits(low)} and {format_credits(high)} credits.",
        "title_length": f"A title is at least {TITLE_MIN} characters: the question traders answer YES or NO.",
        "tag_length": f"A tag is at most {TAG_MAX} characters.",
        "tags_count": f"At most {TAGS_MAX} tags.",
    }.get(problem.code, problem.message)


def insufficient_credit_message(subsidy: int, balance: int) -> str:
    return (
        f"Publishing costs {format_credits(subsidy)} credits and your wallet holds {format_credits(balance)}: "
        "lower the liquidity, or save a draft and publish it later."
    )


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_FORMAT)


class ClaimPostForm(forms.Form):
    """Field names are the service's (`detail={"field": ...}` of its errors lands on the right field).

    `balance` is the author's wallet balance; with `publish` the subsidy must fit in it. `subsidy` is set
    as soon as the liquidity parses and is within bounds, whatever else is wrong, so the page can show it.
    """

    title = forms.CharField(
        label="Title",
        max_length=TITLE_MAX,
        error_messages={
            "required": MESSAGES["title_required"],
            "max_length": f"A title is at most {TITLE_MAX} characters.",
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "Will the replication of the study report p < 0.05?"}
        ),
    )
    criteria = forms.CharField(
        label="Resolution criteria",
        max_length=CRITERIA_MAX,
        help_text="Binding. What makes it YES, what makes it NO, which source decides. "
        "Once published you can add clarifications, never edit these.",
        error_messages={
            "required": MESSAGES["criteria_required"],
            "max_length": f"Resolution criteria are at most {CRITERIA_MAX:,} characters.",
        },
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    domain = forms.ModelChoiceField(
        label="Domain",
        queryset=selectors.domains(),
        to_field_name="slug",
        empty_label="Choose a domain",
        error_messages={
            "required": MESSAGES["domain_required"],
            "invalid_choice": "Choose one of the listed domains.",
        },
    )
    tags = forms.CharField(
        label="Tags (optional)",
        required=False,
        max_length=(TAG_MAX + 2) * TAGS_MAX,
        help_text=f"Up to {TAGS_MAX}, separated by commas.",
        error_messages={"max_length": f"Up to {TAGS_MAX} tags of at most {TAG_MAX} characters each."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "replication, psychology"}),
    )
    closes_at = forms.DateTimeField(
        label="Trading closes (UTC)",
        error_messages={"required": MESSAGES["closes_at_required"], "invalid": "Enter a date and time."},
        widget=DateTimeLocalInput(),
    )
    resolve_by = forms.DateTimeField(
        label="Resolve by (UTC)",
        help_text="When the outcome will be known; not before trading closes.",
        error_messages={"required": MESSAGES["resolve_by_required"], "invalid": "Enter a date and time."},
        widget=DateTimeLocalInput(),
    )
    liquidity = forms.DecimalField(
        label="Liquidity b (credits)",
        max_digits=16,
        decimal_places=6,
        error_messages={
            "required": MESSAGES["liquidity_required"],
            "invalid": "Enter a number of credits.",
            "max_decimal_places": "Use at most 6 decimal places.",
            "max_digits": "Enter a smaller number.",
        },
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    # One per rendered form: a second submission of the same form posts nothing new (see views.post).
    form_token = forms.UUIDField(widget=forms.HiddenInput, error_messages={"required": "This form is incomplete."})

    def __init__(self, *args, balance: int | None = None, publish: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.balance, self.publish = balance, publish
        self.liquidity: int | None = None  # micro-credits, once the typed liquidity is within bounds
        self.subsidy: int | None = None
        low, high = services.liquidity_bounds()
        self.fields["liquidity"].help_text = (
            f"{format_credits(low)} to {format_credits(high)}. Deeper markets move less per trade; "
            "publishing costs b·ln 2."
        )
        if not self.is_bound:
            self.initial.setdefault("form_token", uuid.uuid4())
            self.initial.setdefault("liquidity", DEFAULT_LIQUIDITY_CREDITS)
            self.liquidity = credits(self.initial["liquidity"])
            self.subsidy = lmsr.initial_subsidy(self.liquidity)
        for name, field in self.fields.items():
            if not field.widget.is_hidden:
                described = [f"id_{name}_errors"] + ([f"id_{name}_helptext"] if field.help_text else [])
                field.widget.attrs["aria-describedby"] = " ".join(described)

    def enable_live_check(self, url: str) -> None:
        """Let htmx send the form to `url` as the person types (text) or picks (select, date)."""
        for field in self.visible_fields():
            widget = field.field.widget
            typed = isinstance(widget, forms.TextInput | forms.Textarea) and not isinstance(widget, DateTimeLocalInput)
            widget.attrs.update(
                {
                    "hx-post": url,
                    "hx-trigger": "input changed delay:300ms" if typed else "change",
                    "hx-include": "closest form",
                    "hx-target": "#claim-live",
                    "hx-swap": "outerHTML",
                    "hx-sync": "closest form:queue last",
                }
            )

    def clean_tags(self) -> list[str]:
        return parse_tags(self.cleaned_data["tags"])

    def clean_liquidity(self) -> int:
        return credits(self.cleaned_data["liquidity"])

    def clean(self) -> dict:
        data = super().clean()
        problems = services.claim_problems(
            title=data.get("title"),
            closes_at=data.get("closes_at"),
            resolve_by=data.get("resolve_by"),
            liquidity=data.get("liquidity"),
            tags=data.get("tags"),
        )
        for problem in problems:
            if problem.field in data:
                self.add_error(problem.field, _problem_message(problem))
        if "liquidity" in data:  # within bounds: the page can show what publishing costs
            self.liquidity = data["liquidity"]
            self.subsidy = lmsr.initial_subsidy(self.liquidity)
        if self.publish and self.subsidy is not None and self.balance is not None and self.subsidy > self.balance:
            self.add_error("liquidity", insufficient_credit_message(self.subsidy, self.balance))
        return data

    def errors_shown(self, touched: set[str]) -> dict[str, list[str]]:
        """Errors of the fields the person has been to (live checking does not scold untouched fields)."""
        visible = [field.name for field in self.visible_fields()]
        return {name: list(self.errors.get(name, [])) for name in visible if name in touched}

    def preview(self) -> dict:
        """The claim as typed, for the preview: raw text where it does not parse yet, parsed values where it does."""
        if not self.is_bound:
            return {"tags": [], "liquidity": self.liquidity}
        domain = getattr(self, "cleaned_data", {}).get("domain")
        return {
            "title": (self.data.get("title") or "").strip()[:TITLE_MAX],
            "criteria": (self.data.get("criteria") or "").strip()[:CRITERIA_MAX],
            "domain": domain.name if domain else "",
            "tags": parse_tags(self.data.get("tags", ""))[:TAGS_MAX],
            "closes_at": self._typed("closes_at"),
            "resolve_by": self._typed("resolve_by"),
            "liquidity": self.liquidity,
        }

    def _typed(self, name: str):
        """The field's value as typed, parsed (None if it does not parse), whatever rule it breaks."""
        try:
            return self.fields[name].to_python(self.data.get(name))
        except forms.ValidationError:
            return None
