"""Moderators in the admin: the same actions as the moderation pages, through the same service.

Every action on an identity, a claim, a clarification, a belief's rationale or a wallet asks for the reason
on an intermediate page, then calls `moderation_act` once per selected object: the change and its audit entry,
the ModerationAction row, the person told (and offered an appeal). One object refused (an agent chosen for
"suspend with all agents") is a message for that object; the others go on. The admins of the apps below
(identities, markets, reputation, ledger) may not import moderation, so this module unregisters theirs and
registers subclasses with the actions, the moderators' filters (flagged, suspended, frozen, hidden, recent:
each an annotation or an EXISTS, never a query per row) and the object's history on the audit trail.

Flags, actions and appeals are written only by the services: their admins only look (and dismiss a flag).
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import ActionLocation
from django.db.models import CharField, Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Cast, Coalesce
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin import AuditedAdminMixin, AuditTrailMixin, HiddenFilter, ReadOnlyAdmin, RecentFilter, admin_link
from apps.core.errors import ApplicationError
from apps.identities.admin import IdentityAdmin
from apps.identities.models import ApiKey, Identity, IdentityStatus, SuspendedAs
from apps.ledger.admin import AccountAdmin
from apps.ledger.models import Account, AccountKind
from apps.markets.admin import ClaimAdmin, VoidForm
from apps.markets.models import Claim, ClaimStatus, Clarification
from apps.moderation.models import ActionKind, Appeal, Flag, FlagStatus, ModerationAction, Target
from apps.moderation.services import flag_dismiss, moderation_act
from apps.reputation.admin import BeliefAdmin
from apps.reputation.models import Belief

BOTH = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]  # in the list and on the object's page
REASON_MAX = 500  # moderation_reason's bound

# The admin page of each kind of target (a link per row is a reverse(), not a query).
TARGET_MODELS = {
    Target.CLAIM: "markets.claim",
    Target.CLARIFICATION: "markets.clarification",
    Target.BELIEF: "reputation.belief",
    Target.IDENTITY: "identities.identity",
}


class ReasonForm(forms.Form):
    def __init__(self, *args, max_length: int = REASON_MAX, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"] = forms.CharField(
            max_length=max_length,
            widget=forms.Textarea(attrs={"rows": 3}),
            help_text="Required. Kept on the audit trail and told to the person affected, who may appeal.",
        )


def reasoned_action(
    name: str,
    *,
    description: str,
    title: str,
    explanation: str,
    submit: str,
    perform: Callable,
    max_length: int = REASON_MAX,
    location=BOTH,
):
    """An admin action that asks for the reason on an intermediate page (the selection is listed), then calls
    `perform(user, obj, reason)` for each selected object, each in its own transaction (the service's): a
    refusal is a message naming the object, and the others go on."""

    def action(model_admin, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None, max_length=max_length)
        objects = list(queryset.order_by("pk"))
        if not form.is_valid():
            # From an object's page the action's field carries the change form's prefix.
            prefixed = f"{ActionLocation.CHANGE_FORM.value}-action"
            context = {
                **model_admin.admin_site.each_context(request),
                "title": title,
                "explanation": explanation,
                "items": [model_admin.moderation_label(obj) for obj in objects],
                "selected": [obj.pk for obj in objects],
                "form": form,
                "submit": submit,
                "action": name,
                "action_field": prefixed if prefixed in request.POST else "action",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": model_admin.model._meta,
            }
            return TemplateResponse(request, "admin/moderation/act.html", context)
        done = 0
        for obj in objects:
            try:
                perform(request.user, obj, form.cleaned_data["reason"])
            except ApplicationError as exc:
                model_admin.message_user(request, f"{model_admin.moderation_label(obj)}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            model_admin.message_user(request, f"{submit}: done for {done} of {len(objects)}.", messages.SUCCESS)
        return None

    action.__name__ = name
    return admin.action(action, description=description, location=location)


def act(kind: str, target_type: str, target_id: Callable = lambda obj: obj.pk) -> Callable:
    """What a reasoned action does to one object: the one moderation service."""

    def perform(user, obj, reason: str) -> None:
        moderation_act(moderator=user, kind=kind, target_type=target_type, target_id=target_id(obj), reason=reason)

    return perform


def open_flags(target_type: str):
    return Flag.objects.filter(target_type=target_type, target_id=OuterRef("pk"), status=FlagStatus.OPEN)


def open_flag_count(target_type: str):
    counted = open_flags(target_type).order_by().values("target_id").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def actions_on(target_type: str, object_id: str) -> Q:
    """The audit entries of the moderation actions on a target (each action's entry is on its own row)."""
    try:
        target_id = int(object_id)
    except ValueError:
        return Q(pk__in=[])
    ids = (
        ModerationAction.objects.filter(target_type=target_type, target_id=target_id)
        .annotate(ref=Cast("pk", CharField()))
        .values("ref")
    )
    return Q(object_type="moderation.moderationaction", object_id__in=Subquery(ids))


class FlaggedFilter(admin.SimpleListFilter):
    title = "flagged"
    parameter_name = "flagged"
    target_type = ""

    def lookups(self, request, model_admin):
        return [("yes", "Has open flags"), ("no", "No open flag")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(Exists(open_flags(self.target_type)))
        if self.value() == "no":
            return queryset.filter(~Exists(open_flags(self.target_type)))
        return queryset


def flagged_filter(target_type: str) -> type[FlaggedFilter]:
    return type(f"Flagged{target_type.title()}Filter", (FlaggedFilter,), {"target_type": target_type})


class ModeratedAdminMixin(AuditTrailMixin):
    """What every moderated kind's admin adds: its open flags counted in the list (one subquery), and the
    moderation actions on it in its history on the audit trail."""

    moderation_target = ""

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(open_flag_count=open_flag_count(self.moderation_target))

    @admin.display(description="Open flags", ordering="open_flag_count")
    def open_flags_shown(self, obj) -> int:
        return obj.open_flag_count

    def audit_trail_filter(self, object_id: str) -> Q:
        return super().audit_trail_filter(object_id) | actions_on(self.moderation_target, object_id)

    def moderation_label(self, obj) -> str:
        return f"{obj} (#{obj.pk})"


# --- Identities --------------------------------------------------------------------------------------------


class SuspendedFilter(admin.SimpleListFilter):
    title = "suspended"
    parameter_name = "suspended"

    def lookups(self, request, model_admin):
        return [
            ("yes", "Suspended"),
            ("moderator", "Suspended by a moderator"),
            ("owner", "Suspended by its owner"),
            ("no", "Active"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.filter(status=IdentityStatus.SUSPENDED)
        if value in (SuspendedAs.MODERATOR, SuspendedAs.OWNER):
            return queryset.filter(status=IdentityStatus.SUSPENDED, suspended_as=value)
        if value == "no":
            return queryset.filter(status=IdentityStatus.ACTIVE)
        return queryset


def frozen_wallets():
    return Account.objects.filter(identity_id=OuterRef("pk"), kind=AccountKind.WALLET, frozen_at__isnull=False)


class FrozenWalletFilter(admin.SimpleListFilter):
    title = "wallet"
    parameter_name = "frozen"

    def lookups(self, request, model_admin):
        return [("yes", "Frozen"), ("no", "Not frozen")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(Exists(frozen_wallets()))
        if self.value() == "no":
            return queryset.filter(~Exists(frozen_wallets()))
        return queryset


class JoinedFilter(RecentFilter):
    title = "joined"


IDENTITY = Target.IDENTITY
SUSPEND_TEXT = (
    "Their API keys stop working at once, and a person's agents stop with them. Only staff can lift a "
    "moderator's suspension; the reason is kept on record and told to the person, who may appeal."
)


class ModeratedIdentityAdmin(ModeratedAdminMixin, AuditedAdminMixin, IdentityAdmin):
    moderation_target = IDENTITY
    # What staff may still edit in the form (a handle, an agent's declared provenance): on the audit trail.
    audited_fields = (
        "handle",
        "display_name",
        "description",
        "model_name",
        "provider",
        "model_version",
        "autonomy_level",
        "review_orders_above",
        "homepage_url",
        "code_url",
    )
    list_display = (
        "handle",
        "kind",
        "status",
        "suspended_as",
        "wallet_frozen",
        "open_flags_shown",
        "user",
        "owner",
        "model_name",
        "autonomy_level",
        "created_at",
    )
    list_filter = (
        "kind",
        flagged_filter(IDENTITY),
        SuspendedFilter,
        FrozenWalletFilter,
        JoinedFilter,
        "autonomy_level",
    )
    actions = (
        reasoned_action(
            "suspend",
            description="Suspend the selected identities (their API keys stop working)",
            title="Suspend identities",
            explanation=SUSPEND_TEXT,
            submit="Suspend",
            perform=act(ActionKind.SUSPEND, IDENTITY),
        ),
        reasoned_action(
            "suspend_party",
            description="Suspend the selected people with all their agents (people only)",
            title="Suspend people with all their agents",
            explanation=SUSPEND_TEXT + " Lifting the person's suspension lifts their agents' with it.",
            submit="Suspend with all agents",
            perform=act(ActionKind.SUSPEND_PARTY, IDENTITY),
        ),
        reasoned_action(
            "reactivate",
            description="Lift the suspension of the selected identities",
            title="Lift suspensions",
            explanation="They act again at once (a person's agents suspended with them too). The reason is told.",
            submit="Lift the suspension",
            perform=act(ActionKind.REACTIVATE, IDENTITY),
        ),
        reasoned_action(
            "revoke_keys",
            description="Revoke every API key of the selected agents (agents only)",
            title="Revoke every API key",
            explanation="Each key stops at once (401). The owner may make new ones unless the agent is suspended.",
            submit="Revoke all keys",
            perform=act(ActionKind.REVOKE_KEYS, IDENTITY),
        ),
        reasoned_action(
            "freeze",
            description="Freeze the wallets of the selected identities",
            title="Freeze wallets",
            explanation="No trade, no funding, nothing spent from the wallet; settlement and refunds still pay in.",
            submit="Freeze the wallet",
            perform=act(ActionKind.FREEZE, IDENTITY),
        ),
        reasoned_action(
            "unfreeze",
            description="Unfreeze the wallets of the selected identities",
            title="Unfreeze wallets",
            explanation="The wallet may be spent from again.",
            submit="Unfreeze the wallet",
            perform=act(ActionKind.UNFREEZE, IDENTITY),
        ),
    )

    def get_queryset(self, request):
        frozen_at = Account.objects.filter(identity_id=OuterRef("pk"), kind=AccountKind.WALLET).values("frozen_at")
        return super().get_queryset(request).annotate(wallet_frozen_at=Subquery(frozen_at[:1]))

    @admin.display(description="Wallet frozen", boolean=True, ordering="wallet_frozen_at")
    def wallet_frozen(self, identity: Identity) -> bool:
        return identity.wallet_frozen_at is not None

    def moderation_label(self, identity: Identity) -> str:
        return f"@{identity.handle} ({identity.get_kind_display()}, {identity.get_status_display()})"

    def audit_trail_filter(self, object_id: str) -> Q:
        """The identity's own entries, its moderation actions', and those on its accounts (a frozen wallet)
        and its API keys (each key revoked by staff)."""
        try:
            pk = int(object_id)
        except ValueError:
            return super().audit_trail_filter(object_id)
        accounts = Account.objects.filter(identity_id=pk).annotate(ref=Cast("pk", CharField())).values("ref")
        keys = ApiKey.objects.filter(identity_id=pk).annotate(ref=Cast("pk", CharField())).values("ref")
        return (
            super().audit_trail_filter(object_id)
            | Q(object_type="ledger.account", object_id__in=Subquery(accounts))
            | Q(object_type="identities.apikey", object_id__in=Subquery(keys))
        )


# --- Claims, clarifications, rationales -------------------------------------------------------------------


HIDDEN_FIELDS = ("hidden_at", "hidden_reason", "hidden_by")


def hide_and_restore(target_type: str, what: str, hidden_means: str) -> tuple:
    return (
        reasoned_action(
            "hide",
            description=f"Hide the selected {what}",
            title=f"Hide {what}",
            explanation=f"{hidden_means} Nothing is deleted: restoring shows it again. The author is told why.",
            submit="Hide",
            perform=act(ActionKind.HIDE, target_type),
        ),
        reasoned_action(
            "restore",
            description=f"Restore the selected {what}",
            title=f"Restore {what}",
            explanation="It shows again to everyone. The author is told why.",
            submit="Restore",
            perform=act(ActionKind.RESTORE, target_type),
        ),
    )


class EditForm(forms.Form):
    title = forms.CharField(max_length=200)
    criteria = forms.CharField(widget=forms.Textarea)
    reason = forms.CharField(widget=forms.Textarea, max_length=REASON_MAX, help_text="Required; the author reads it.")


class ClarifyForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea, help_text="Appended to the criteria; traders read it.")
    reason = forms.CharField(widget=forms.Textarea, max_length=REASON_MAX, help_text="Required; the author reads it.")


class ModeratedClaimAdmin(ModeratedAdminMixin, AuditedAdminMixin, ClaimAdmin):
    """Claims: hide (unlist), restore, void, and on a claim's page edit its words (before any trade) or add a
    moderator's clarification, each through moderation_act. The title is no longer edited in the form (that
    would skip the rule that a traded claim's words change only by a clarification); domain and tags are, and
    such an edit is on the audit trail."""

    moderation_target = Target.CLAIM
    list_display = (*ClaimAdmin.list_display, "hidden", "open_flags_shown")
    list_filter = (*ClaimAdmin.list_filter, flagged_filter(Target.CLAIM), HiddenFilter)
    readonly_fields = ("title", *ClaimAdmin.readonly_fields, *HIDDEN_FIELDS)
    fields = ("title", "domain", "tags", *ClaimAdmin.readonly_fields, *HIDDEN_FIELDS)
    audited_fields = ("domain", "tags")
    actions = (
        *hide_and_restore(
            Target.CLAIM, "claims", "The claim is unlisted: out of every list and search, its page still reachable."
        ),
        reasoned_action(
            "void",
            description="Void the selected claims (refunds)",
            title="Void claims",
            explanation="Settlement refunds the traders and the author; bonds go back. This cannot be undone.",
            submit="Void",
            perform=act(ActionKind.VOID, Target.CLAIM),
        ),
    )

    @admin.display(description="Hidden", boolean=True, ordering="hidden_at")
    def hidden(self, claim: Claim) -> bool:
        return claim.hidden_at is not None

    def moderation_label(self, claim: Claim) -> str:
        return f"#{claim.pk} “{claim.title}”"

    @admin.display(description="Moderation")
    def moderation(self, claim: Claim) -> str:
        links = [
            format_html(
                '<a class="button" href="{}">{}</a>', reverse(f"admin:markets_claim_{name}", args=[claim.pk]), text
            )
            for name, text in (("edit", "Edit the words"), ("clarify", "Add a clarification"))
        ]
        if claim.settled_at is not None or claim.status == ClaimStatus.VOIDED:
            links = []
        dispute_and_void = super().moderation(claim)
        if dispute_and_void != "—":
            links.insert(0, dispute_and_void)
        return format_html(" ".join(["{}"] * len(links)), *links) if links else "—"

    def get_urls(self):
        extra = [
            path("<int:claim_id>/edit/", self.admin_site.admin_view(self.edit_view), name="markets_claim_edit"),
            path(
                "<int:claim_id>/clarify/", self.admin_site.admin_view(self.clarify_view), name="markets_claim_clarify"
            ),
        ]
        return extra + super().get_urls()

    def void_view(self, request, claim_id: int):
        return self._moderate(
            request,
            claim_id,
            VoidForm,
            "Void the claim",
            act_on_claim(ActionKind.VOID),
        )

    def edit_view(self, request, claim_id: int):
        claim = Claim.objects.filter(pk=claim_id).only("title", "criteria").first()
        initial = {"title": claim.title, "criteria": claim.criteria} if claim else {}
        return self._moderate(
            request,
            claim_id,
            lambda data: EditForm(data, initial=initial),
            "Edit the claim (only before any trade)",
            act_on_claim(ActionKind.EDIT),
        )

    def clarify_view(self, request, claim_id: int):
        return self._moderate(request, claim_id, ClarifyForm, "Add a clarification", act_on_claim(ActionKind.CLARIFY))


def act_on_claim(kind: str) -> Callable:
    def perform(claim: Claim, user, data: dict) -> None:
        moderation_act(
            moderator=user,
            kind=kind,
            target_type=Target.CLAIM,
            target_id=claim.pk,
            reason=data["reason"],
            title=data.get("title", ""),
            criteria=data.get("criteria", ""),
            text=data.get("text", ""),
        )

    return perform


class ClarificationAdmin(ModeratedAdminMixin, ReadOnlyAdmin):
    """Clarifications are appended by their claim's author or a moderator (the services): here only looked at,
    hidden and restored."""

    moderation_target = Target.CLARIFICATION
    list_display = ("id", "claim", "text_start", "added_by_moderator", "created_at", "hidden", "open_flags_shown")
    list_filter = (flagged_filter(Target.CLARIFICATION), HiddenFilter, RecentFilter)
    list_select_related = ("claim", "added_by_moderator")
    search_fields = ("text", "claim__title")
    raw_id_fields = ("claim",)
    actions = hide_and_restore(
        Target.CLARIFICATION, "clarifications", "The clarification shows as hidden, with the reason."
    )

    @admin.display(description="Text")
    def text_start(self, clarification: Clarification) -> str:
        return clarification.text[:80]

    @admin.display(description="Hidden", boolean=True, ordering="hidden_at")
    def hidden(self, clarification: Clarification) -> bool:
        return clarification.hidden_at is not None


class ModeratedBeliefAdmin(ModeratedAdminMixin, BeliefAdmin):
    moderation_target = Target.BELIEF
    list_display = (*BeliefAdmin.list_display, "hidden", "open_flags_shown")
    list_filter = (flagged_filter(Target.BELIEF), HiddenFilter, RecentFilter)
    actions = hide_and_restore(
        Target.BELIEF,
        "rationales",
        "The rationale shows as hidden to everyone but its author, with the reason; the probability still counts.",
    )

    @admin.display(description="Hidden", boolean=True, ordering="hidden_at")
    def hidden(self, belief: Belief) -> bool:
        return belief.hidden_at is not None


# --- Wallets ---------------------------------------------------------------------------------------------


class FrozenFilter(admin.SimpleListFilter):
    title = "frozen"
    parameter_name = "frozen"

    def lookups(self, request, model_admin):
        return [("yes", "Frozen"), ("no", "Not frozen")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(frozen_at__isnull=self.value() == "no")
        return queryset


def wallet_act(kind: str) -> Callable:
    def perform(user, account: Account, reason: str) -> None:
        if account.kind != AccountKind.WALLET:
            raise ApplicationError("Only an identity's wallet can be frozen or unfrozen.")
        act(kind, IDENTITY, target_id=lambda wallet: wallet.identity_id)(user, account, reason)

    return perform


class ModeratedAccountAdmin(AuditTrailMixin, AccountAdmin):
    list_display = (*AccountAdmin.list_display, "frozen")
    list_filter = (*AccountAdmin.list_filter, FrozenFilter)
    actions = (
        reasoned_action(
            "freeze",
            description="Freeze the selected wallets",
            title="Freeze wallets",
            explanation="No trade, no funding, nothing spent from the wallet; settlement and refunds still pay in.",
            submit="Freeze the wallet",
            perform=wallet_act(ActionKind.FREEZE),
        ),
        reasoned_action(
            "unfreeze",
            description="Unfreeze the selected wallets",
            title="Unfreeze wallets",
            explanation="The wallet may be spent from again.",
            submit="Unfreeze the wallet",
            perform=wallet_act(ActionKind.UNFREEZE),
        ),
    )

    @admin.display(description="Frozen", boolean=True, ordering="frozen_at")
    def frozen(self, account: Account) -> bool:
        return account.frozen_at is not None

    def moderation_label(self, account: Account) -> str:
        return f"{account} (#{account.pk})"


for model, model_admin in (
    (Identity, ModeratedIdentityAdmin),
    (Claim, ModeratedClaimAdmin),
    (Belief, ModeratedBeliefAdmin),
    (Account, ModeratedAccountAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
admin.site.register(Clarification, ClarificationAdmin)


# --- Flags, actions, appeals: read-only ------------------------------------------------------------------


class TargetMixin:
    @admin.display(description="Target", ordering="target_type")
    def target(self, row) -> str:
        return admin_link(TARGET_MODELS[row.target_type], str(row.target_id), f"{row.target_type} #{row.target_id}")


def dismiss(user, flag: Flag, reason: str) -> None:
    if flag.status != FlagStatus.OPEN:
        raise ApplicationError(f"It is {flag.get_status_display().lower()} already.")
    flag_dismiss(moderator=user, flag=flag, reason=reason)


@admin.register(Flag)
class FlagAdmin(TargetMixin, ReadOnlyAdmin):
    list_display = ("id", "created_at", "target", "reason", "flagger", "party", "status", "action", "decided_at")
    list_filter = ("status", "reason", "target_type", RecentFilter)
    list_select_related = ("flagger", "party", "action")
    search_fields = ("note", "flagger__handle", "decision_reason")
    ordering = ("-id",)
    actions = (
        reasoned_action(
            "dismiss",
            description="Dismiss the open flags on the selected flags' targets (nothing wrong)",
            title="Dismiss flags",
            explanation="Every open flag on each target is dismissed, and its flagger told why.",
            submit="Dismiss",
            perform=dismiss,
        ),
    )

    def moderation_label(self, flag: Flag) -> str:
        return f"Flag #{flag.pk} on {flag.target_type} #{flag.target_id} ({flag.get_reason_display()})"


@admin.register(ModerationAction)
class ModerationActionAdmin(TargetMixin, AuditTrailMixin, ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "target", "moderator", "party", "reason", "reverses", "appealed")
    list_filter = ("kind", "target_type", RecentFilter)
    list_select_related = ("moderator", "party", "reverses", "appeal")
    search_fields = ("reason",)
    ordering = ("-id",)

    @admin.display(description="Appeal")
    def appealed(self, action: ModerationAction) -> str:
        appeal = getattr(action, "appeal", None)
        return appeal.get_status_display() if appeal is not None else "—"


@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "action", "appellant", "status", "decided_by", "decided_at")
    list_filter = ("status", RecentFilter)
    list_select_related = ("action", "appellant", "decided_by")
    search_fields = ("statement", "decision_reason", "appellant__handle")
    ordering = ("-id",)
