"""Model instances from the columns of a hand-written query, converted exactly as the ORM converts them.

For hot paths whose query is written out in SQL (the API key lookup): compiling an ORM query costs
more than running it. `RowModel(Model)` names every concrete column, so an instance built from a row is
complete (no deferred field loads later), and applies the same backend and field converters the ORM's
compiler would (psycopg hands JSON back as text, SQLite hands back naive timestamps, and so on).
"""

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


class RowModel:
    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self.fields = [field for field in model._meta.concrete_fields]
        self.attnames = [field.attname for field in self.fields]
        self._converters: list[tuple[int, list]] | None = None
        self._vendor = ""

    def columns(self, alias: str) -> str:
        """The select list for this model's table under `alias`, in the order `build` expects."""
        return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def build(self, values: Sequence[Any]) -> Model:
        if self._converters is None or self._vendor != connection.vendor:
            self._converters = self._converters_for_connection()
            self._vendor = connection.vendor
        row = list(values)
        for index, converters in self._converters:
            for convert in converters:
                row[index] = convert(row[index], self._expressions[index], connection)
        return self.model.from_db(connection.alias, self.attnames, row)

    def _converters_for_connection(self) -> list[tuple[int, list]]:
        table = self.model._meta.db_table
        self._expressions = [field.get_col(table) for field in self.fields]
        found = []
        for index, (field, expression) in enumerate(zip(self.fields, self._expressions, strict=True)):
            converters = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
            if converters:
                found.append((index, converters))
        return found
