from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    # allauth's own app is "Accounts" (email addresses) in the admin too: ours holds the people.
    verbose_name = "People"
