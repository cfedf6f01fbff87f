"""Model fields shared by the apps."""

from django.db import models


class ExactDecimalField(models.DecimalField):
    """A DecimalField that keeps every digit in embedded mode too.

    SQLite gives a `decimal` column NUMERIC affinity, which stores '0.49751243781094527363' as a 64-bit
    float (about 16 significant digits): a price read back, or replayed, was another string than the one
    first answered. On SQLite the column is `text` instead, which keeps the exact string; Django's SQLite
    converter reads a string back as the exact Decimal, and SQLite's arithmetic still treats it as a
    number. PostgreSQL keeps its exact numeric(max_digits, decimal_places).
    """

    def db_type(self, connection):
        if connection.vendor == "sqlite":
            return "text"
        return super().db_type(connection)
