"""Browser forms of the claim list and the claim page: they parse and type the input (credits to
micro-credits, percentages to probabilities). The rules (limits, balances, who may propose) are the
services' job; a refused rule comes back as an ApplicationError and is shown on the form."""

import uuid
from decimal import Decimal

from django import forms

from apps.core.amounts import CREDIT
from apps.markets.models import Outcome, Side
from apps.markets.pricing import Order

PERCENT = Decimal(100)
MICRO = Decimal("0.000001")


class KeyedForm(forms.Form):
    """A form whose idempotency key is minted when it is rendered: submitting the same rendered form twice
    (a double click, a resubmitted POST) reaches the service with the same key and acts once."""

    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4())

    def clean_idempotency_key(self) -> str:
        return str(self.cleaned_data["idempotency_key"])


def _micro(value: Decimal | None) -> int | None:
    """Credits or shares as typed -> integer micro-units (the field already refused finer amounts)."""
    return None if value is None else int(value * CREDIT)


def _probability(value: Decimal | None) -> Decimal | None:
    """A percentage as typed -> a probability of the market's precision (62.5 -> 0.625)."""
    return None if value is None else (value / PERCENT).normalize()


def _percent_field(label: str, *, required: bool, help_text: str = "", placeholder: str = "62.5") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        help_text=help_text,
        max_digits=None,  # the range below says it better than a digit count
        decimal_places=4,
        min_value=Decimal("0.0001"),
        max_value=Decimal("99.9999"),
        error_messages={
            "min_value": "Enter a percentage above 0 and below 100.",
            "max_value": "Enter a percentage above 0 and below 100.",
            "max_decimal_places": "Use at most 4 decimal places.",
        },
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": placeholder}),
    )


def _micro_field(label: str, *, placeholder: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=MICRO,
        max_digits=16,
        decimal_places=6,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": placeholder}),
    )


# --- The claim list -------------------------------------------------------------------------------------

STATUS_CHOICES = [
    ("", "Any status"),
    ("open", "Open"),
    ("closed", "Closed"),
    ("proposed", "Resolution proposed"),
    ("disputed", "Disputed"),
    ("resolved_yes", "Resolved YES"),
    ("resolved_no", "Resolved NO"),
    ("voided", "Voided"),
]
CLOSING_CHOICES = [("", "Any time"), ("24", "Within 24 hours"), ("168", "Within 7 days"), ("720", "Within 30 days")]
SORT_CHOICES = [
    ("new", "Newest, open first"),
    ("closing", "Closing soonest"),
    ("volume", "Most traded"),
    ("disagreement", "Market vs consensus: most disagreement"),
]


class ClaimFilterForm(forms.Form):
    """The claim list's GET form. An invalid value is reported next to its field and ignored."""

    q = forms.CharField(
        label="Search titles",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search titles", "maxlength": 100}),
    )
    domain = forms.ChoiceField(label="Domain", required=False)
    tag = forms.CharField(
        label="Tag", required=False, max_length=40, widget=forms.TextInput(attrs={"placeholder": "any tag"})
    )
    status = forms.ChoiceField(label="Status", required=False, choices=STATUS_CHOICES)
    closing = forms.ChoiceField(label="Closing", required=False, choices=CLOSING_CHOICES)
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORT_CHOICES)
    mine = forms.BooleanField(label="Only mine (posted or traded)", required=False)

    def __init__(self, *args, domains=(), signed_in: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = [("", "All domains"), *((d.slug, d.name) for d in domains)]
        if not signed_in:
            del self.fields["mine"]

    def filters(self) -> dict:
        """The valid filters ({} for the invalid ones), with their defaults."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "q": data.get("q", "").strip(),
            "domain": data.get("domain") or "",
            "tag": data.get("tag", "").strip(),
            "status": data.get("status") or "",
            "closing": int(data["closing"]) if data.get("closing") else None,
            "sort": data.get("sort") or "new",
            "mine": bool(data.get("mine")),
        }


# --- The order ticket ---------------------------------------------------------------------------------

KIND_CHOICES = [("buy", "Buy"), ("belief", "Belief order"), ("sell", "Sell")]
ORDER_FIELDS = {
    "buy": {"side", "amount", "limit_price", "allow_partial"},
    "belief": {"belief", "amount"},
    "sell": {"side", "shares", "limit_price", "allow_partial"},
}
REQUIRED_FOR = {"buy": ("side", "amount"), "belief": ("belief", "amount"), "sell": ("side", "shares")}


class OrderForm(KeyedForm):
    """One ticket for the three order types; the fields a type does not use are ignored (and hidden by CSS)."""

    kind = forms.ChoiceField(label="Order", choices=KIND_CHOICES, initial="buy", widget=forms.RadioSelect)
    side = forms.ChoiceField(label="Side", choices=Side.choices, initial=Side.YES, widget=forms.RadioSelect)
    amount = _micro_field("Amount to spend (credits, fee included)", placeholder="10")
    belief = _percent_field(
        "Your probability of YES (%)",
        required=False,
        help_text="Buys the side the market underprices until its price reaches yours or the amount is spent.",
    )
    shares = _micro_field("Shares to sell", placeholder="5")
    limit_price = _percent_field(
        "Price limit (%, optional)",
        required=False,
        help_text="The price of your side not to cross: a buy stops below it, a sell above it.",
        placeholder="none",
    )
    allow_partial = forms.BooleanField(label="Fill up to the limit instead of refusing", required=False)

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind not in ORDER_FIELDS:
            return data
        # The fields this kind of order does not use are hidden on the ticket: whatever they hold
        # (a value typed before switching kinds) neither blocks the order nor reaches it.
        for name in set(self.fields) - ORDER_FIELDS[kind] - {"kind", "idempotency_key"}:
            self._errors.pop(name, None)
            data.pop(name, None)
        for name in REQUIRED_FOR[kind]:
            if name not in self._errors and data.get(name) is None:
                self.add_error(name, "This field is required for this order.")
        return data

    def order(self) -> Order:
        data = self.cleaned_data
        kind = data["kind"]
        if kind == "belief":
            return Order(kind="belief", amount=_micro(data["amount"]), belief=_probability(data["belief"]))
        limited = {
            "limit_price": _probability(data.get("limit_price")),
            "allow_partial": bool(data.get("allow_partial")),
        }
        if kind == "sell":
            return Order(kind="sell", side=data["side"], shares=_micro(data["shares"]), **limited)
        return Order(kind="buy", side=data["side"], amount=_micro(data["amount"]), **limited)


# --- Beliefs and resolution ---------------------------------------------------------------------------


class BeliefForm(KeyedForm):
    probability = _percent_field("Your probability of YES (%)", required=True)
    rationale = forms.CharField(
        label="Rationale (optional, public: shown with your belief)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_probability(self) -> Decimal:
        return _probability(self.cleaned_data["probability"])


class ProposeForm(forms.Form):
    outcome = forms.ChoiceField(label="Outcome", choices=Outcome.choices, widget=forms.RadioSelect)
    evidence = forms.CharField(
        label="Evidence",
        max_length=5000,
        help_text="Sources a reader can check: what happened, where it is recorded.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class ChallengeForm(forms.Form):
    evidence = forms.CharField(
        label="Why the proposal is wrong",
        max_length=5000,
        help_text="Your evidence for a different outcome.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
