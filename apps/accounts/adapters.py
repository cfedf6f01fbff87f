from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction

from apps.accounts.services import user_email_verified


class AccountAdapter(DefaultAccountAdapter):
    def confirm_email(self, request, email_address) -> bool:
        """allauth marks the address verified; the user is onboarded in the same transaction."""
        with transaction.atomic():
            confirmed = super().confirm_email(request, email_address)
            if confirmed:
                user_email_verified(user=email_address.user)
                email_address.user.__dict__.pop("human_identity", None)
        return confirmed
