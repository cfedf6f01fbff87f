import uuid
from decimal import Decimal

from django import forms

from apps.core.amounts import credits


class AgentTransferForm(forms.Form):
    """Move credit between the owner and an agent.

    The idempotency key is minted when the form is rendered, so submitting the same rendered form twice
    (a double click, a resubmitted POST) reaches the ledger with the same key and moves credit once.
    """

    amount = forms.DecimalField(
        label="Amount (credits)",
        min_value=Decimal("0.000001"),
        max_digits=16,
        decimal_places=6,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "12.5"}),
    )
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4())

    def clean_amount(self) -> int:
        """Credits as typed -> integer micro-credits (the DecimalField already refused finer amounts)."""
        return credits(self.cleaned_data["amount"])

    def clean_idempotency_key(self) -> str:
        return str(self.cleaned_data["idempotency_key"])
