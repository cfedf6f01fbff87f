"""A fresh database starts with the packages of settings.CREDENCE_CREDIT_PACKAGES (staff edit them in the admin
afterwards; a database that already has packages is left alone)."""

from django.conf import settings
from django.db import migrations

CREDIT = 1_000_000


def create_packages(apps, schema_editor) -> None:
    package = apps.get_model("billing", "CreditPackage")
    if package.objects.exists():
        return
    package.objects.bulk_create(
        package(
            name=row["name"],
            credits=row["credits"] * CREDIT,
            price=row["price"],
            currency=settings.CREDENCE_BILLING_CURRENCY,
            position=position,
        )
        for position, row in enumerate(settings.CREDENCE_CREDIT_PACKAGES)
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(create_packages, migrations.RunPython.noop)]
