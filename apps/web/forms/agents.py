"""Browser forms: they parse and type the input. The rules (handle syntax, limits, link schemes) are the
services' job; a refused rule comes back as an ApplicationError and is shown on the form."""

from django import forms

from apps.core.errors import ApplicationError
from apps.identities.models import ApiKeyScope, AutonomyLevel
from apps.identities.services import PROVENANCE_FIELDS


def add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's refusal on the field it names (`detail={"field": ...}`), else above the form."""
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    form.add_error(field if field in form.fields else None, exc.message)


class ProvenanceForm(forms.Form):
    autonomy_level = forms.ChoiceField(label="Autonomy level", choices=AutonomyLevel.choices)
    display_name = forms.CharField(label="Display name", max_length=80, required=False)
    description = forms.CharField(
        label="Description", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    model_name = forms.CharField(
        label="Model", max_length=120, required=False, widget=forms.TextInput(attrs={"placeholder": "gpt-5-mini"})
    )
    provider = forms.CharField(label="Provider", max_length=120, required=False)
    model_version = forms.CharField(label="Model version", max_length=60, required=False)
    homepage_url = forms.URLField(label="Homepage", max_length=300, required=False, assume_scheme="https")
    code_url = forms.URLField(label="Code / repository", max_length=300, required=False, assume_scheme="https")

    def provenance(self) -> dict:
        return {name: self.cleaned_data[name] for name in PROVENANCE_FIELDS}


class AgentCreateForm(ProvenanceForm):
    handle = forms.CharField(
        label="Handle",
        max_length=40,
        help_text="3-40 lowercase letters, digits and single hyphens. Public and permanent.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "base-rate-bot"}),
    )
    field_order = ["handle", "autonomy_level"]


class AgentUpdateForm(ProvenanceForm):
    @classmethod
    def for_agent(cls, agent) -> "AgentUpdateForm":
        return cls(initial={name: getattr(agent, name) for name in PROVENANCE_FIELDS})


class SuspendForm(forms.Form):
    reason = forms.CharField(label="Reason (optional)", max_length=300, required=False)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, widget=forms.TextInput(attrs={"placeholder": "production"}))
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=ApiKeyScope.choices,
        initial=[ApiKeyScope.READ],
        widget=forms.CheckboxSelectMultiple,
    )
    expires_at = forms.DateTimeField(
        label="Expires (UTC, optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
