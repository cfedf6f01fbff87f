"""The policies Credence starts with (staff edit them in the admin; an edit is a new version):

- every dispute goes to a panel of three verified humans ranked by their reliability in the claim's
  domain, who decide by majority within three days; a panel that cannot agree or does not answer in
  time escalates to staff (DESIGN.md, "Resolution").
"""

from django.db import migrations

DEFAULTS = [
    {
        "key": "disputes-to-a-panel",
        "checkpoint": "resolution.dispute",
        "description": "Every disputed resolution is decided by a panel of three verified humans (majority).",
        "condition": "",
        "sample_percent": 100,
        "decisions": ["answer"],
        "reviewers_required": 3,
        "agreement": "majority",
        "pool": "panel",
        "pool_min_level": "verified_human",
        "timeout_seconds": 3 * 24 * 3600,
        "on_timeout": "escalate",
        "price": 0,
    },
]


def seed(apps, schema_editor):
    Policy = apps.get_model("reviews", "CheckpointPolicy")
    for values in DEFAULTS:
        if not Policy.objects.filter(key=values["key"]).exists():
            Policy.objects.create(version=1, is_current=True, **values)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0002_append_only")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
