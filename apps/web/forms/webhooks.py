"""The webhook subscription form: it types the input; the URL rules (SSRF, https) and the kinds offered are
apps.webhooks.services' to check, and a refusal is shown on its field."""

from django import forms

from apps.webhooks.services import DESCRIPTION_MAX, OFFERED_KINDS, URL_MAX


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=URL_MAX,
        help_text="https, a public host. Deliveries are POSTed here, signed (Standard Webhooks).",
        widget=forms.TextInput(attrs={"placeholder": "https://agent.example.com/hooks", "autocomplete": "off"}),
    )
    kinds = forms.MultipleChoiceField(
        label="Events",
        choices=[(kind, kind) for kind in OFFERED_KINDS],
        widget=forms.CheckboxSelectMultiple,
    )
    own_trades_only = forms.BooleanField(label="trade.placed: only this agent's own trades", required=False)
    description = forms.CharField(label="Description", max_length=DESCRIPTION_MAX, required=False)

    @classmethod
    def for_subscription(cls, subscription) -> "WebhookForm":
        return cls(
            initial={
                "url": subscription.url,
                "kinds": subscription.kinds,
                "own_trades_only": subscription.own_trades_only,
                "description": subscription.description,
            }
        )
