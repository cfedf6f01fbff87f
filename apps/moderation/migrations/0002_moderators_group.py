"""The "Moderators" group: what a staff member who is not a superuser needs to moderate in the admin. Add a
moderator with `is_staff` and this group (docs/operations.md, "Moderation queue"); the moderation pages need
`is_staff` alone.

Every admin action of moderation calls `moderation_act`, which checks for staff itself, so the group grants
looking (view) at what moderators act on and at the record; no change or delete permission: the objects change
only through the actions, and flags, actions, appeals and the audit trail only through the services."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Moderators"
VIEW = [
    ("identities", "identity"),
    ("identities", "apikey"),
    ("markets", "claim"),
    ("markets", "clarification"),
    ("reputation", "belief"),
    ("ledger", "account"),
    ("moderation", "flag"),
    ("moderation", "moderationaction"),
    ("moderation", "appeal"),
    ("core", "auditentry"),
    ("reviews", "reviewrequest"),
]


def add_group(apps, schema_editor):
    # Permissions are made after every migration (post_migrate); on a fresh database this runs before that,
    # so make the ones it needs now (create_permissions skips those that exist).
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True  # a migration's app configs have none
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, model in VIEW:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=f"view_{model}"))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0004_audit_append_only"),
        ("identities", "0005_suspension_reason_500"),
        ("markets", "0007_moderation"),
        ("reputation", "0006_moderation"),
        ("ledger", "0005_moderation"),
        ("reviews", "0005_overrule"),
    ]

    operations = [migrations.RunPython(add_group, remove_group)]
