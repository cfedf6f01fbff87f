"""Browser forms of moderation: flagging, a moderator's action, an appeal and its decision. They parse what was
typed; the rules (one open flag each, the daily limit, a reason's length, who may appeal) are the services'
(apps/moderation/services.py), whose refusals come back to the form."""

from django import forms

from apps.moderation.models import ActionKind, FlagReason
from apps.moderation.services import NOTE_MAX, STATEMENT_MAX, STATEMENT_MIN

REASON_MAX = 500  # apps.core.services.moderation_reason
DISMISS = "dismiss"
# Each action's one-key shortcut, shown on its button (static/js/moderation.js presses it). Restore and lifting a
# suspension share "r": they never apply to the same kind of target.
SHORTCUTS = {
    ActionKind.HIDE: "h",
    ActionKind.RESTORE: "r",
    ActionKind.REACTIVATE: "r",
    DISMISS: "d",
    ActionKind.SUSPEND: "s",
    ActionKind.SUSPEND_PARTY: "p",
    ActionKind.REVOKE_KEYS: "k",
    ActionKind.FREEZE: "f",
    ActionKind.UNFREEZE: "u",
    ActionKind.VOID: "v",
    ActionKind.EDIT: "e",
    ActionKind.CLARIFY: "c",
}


class FlagForm(forms.Form):
    reason = forms.ChoiceField(
        label="What is wrong",
        choices=FlagReason.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Pick what is wrong."},
    )
    note = forms.CharField(
        label="Note for the moderators",
        required=False,
        max_length=NOTE_MAX,
        help_text="Optional, unless you picked “Something else”: what they should look at, and why.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reason") == FlagReason.OTHER and not (cleaned.get("note") or "").strip():
            self.add_error("note", "Say what is wrong: you picked “Something else”.")
        return cleaned


class ActForm(forms.Form):
    """A moderator's action on a target: which one (the button pressed), the reason the person affected reads,
    and for a claim the new words (edit) or the clarification (clarify)."""

    action = forms.ChoiceField(choices=[*ActionKind.choices, (DISMISS, "Dismiss the flags")])
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        help_text="Required for every action: the person affected (or, when you dismiss, the flaggers) reads it.",
        error_messages={"required": "Give a reason: the person affected reads it."},
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    title = forms.CharField(label="Title", required=False, max_length=200)
    criteria = forms.CharField(label="Resolution criteria", required=False, widget=forms.Textarea(attrs={"rows": 4}))
    text = forms.CharField(
        label="Clarification", required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="For “Clarify”."
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == ActionKind.CLARIFY and not (data.get("text") or "").strip():
            self.add_error("text", "Write the clarification to add.")
        return data


class AppealForm(forms.Form):
    statement = forms.CharField(
        label="Why should it be undone?",
        min_length=STATEMENT_MIN,
        max_length=STATEMENT_MAX,
        help_text=f"{STATEMENT_MIN} to {STATEMENT_MAX} characters. A moderator other than the one who acted reads it.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class AppealDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Grant: undo the action"), ("reject", "Deny: the action stands")])
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=REASON_MAX,
        help_text="The person reads it. Required to deny.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the action stands: the person reads it.")
        return data
