from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from django.conf import settings
from django.db import transaction

from apps.accounts.services import user_email_verified
from apps.core.throttling import client_address, limited_address


@dataclass(frozen=True)
class Site:
    """What allauth's emails call the site (`current_site`): its name, and the host the person used."""

    name: str
    domain: str


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context_data: dict) -> None:
        """allauth names the site in its emails from django.contrib.sites, which Credence does not install,
        and falls back to the request's host: "Hello from 127.0.0.1:8123!". Every allauth email is sent
        here, so each names the site SITE_NAME; the domain stays the host the person used, as the links do
        (CREDENCE_SITE_URL's outside a request)."""
        request = context.request
        domain = request.get_host() if request is not None else urlsplit(settings.SITE_URL).netloc
        super().send_mail(template_prefix, email, {"current_site": Site(settings.SITE_NAME, domain), **context_data})

    def get_client_ip(self, request) -> str:
        """allauth's per-address limits (login, signup, password reset, MFA) count the client the API's
        limits count, behind CREDENCE_TRUSTED_PROXIES proxies; allauth's own reading uses REMOTE_ADDR
        unless ALLAUTH_TRUSTED_PROXY_COUNT says otherwise, so behind nginx everyone shared one count."""
        return client_address(request)

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        """Failed logins are counted per account *and* address (allauth: per account): a stranger who
        knows an email locks only their own address out of it, never its owner. The per-address limit
        of ACCOUNT_RATE_LIMITS["login_failed"] still bounds how many accounts one address may try.
        allauth derives this key for counting failures and for clearing them after a password reset."""
        account = super()._get_login_attempts_cache_key(request, **credentials)
        return f"{account}:{limited_address(request)}"

    def confirm_email(self, request, email_address) -> bool:
        """allauth marks the address verified; the user is onboarded in the same transaction."""
        with transaction.atomic():
            confirmed = super().confirm_email(request, email_address)
            if confirmed:
                user_email_verified(user=email_address.user)
                email_address.user.__dict__.pop("human_identity", None)
        return confirmed
