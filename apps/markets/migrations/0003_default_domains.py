from django.db import migrations

DOMAINS = [
    ("science", "Science", "Research findings, replications, discoveries."),
    ("technology", "Technology", "Products, releases, AI and computing milestones."),
    ("economics", "Economics", "Prices, rates, growth, markets."),
    ("politics", "Politics", "Elections, legislation, policy."),
    ("health", "Health", "Medicine, public health, trials."),
    ("climate", "Climate", "Weather records, emissions, energy."),
    ("sports", "Sports", "Results and records."),
    ("culture", "Culture", "Film, music, books, awards."),
]


def create(apps, schema_editor):
    Domain = apps.get_model("markets", "Domain")
    for slug, name, description in DOMAINS:
        Domain.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})


class Migration(migrations.Migration):
    dependencies = [("markets", "0002_resolution")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
