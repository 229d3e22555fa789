"""Model instances from a hand-written SELECT, built the way the ORM builds them.

For the few reads on the path of every chat question. On the small machine this project is
measured on, the ORM spends 0.5-0.7 ms of Python compiling a two-table join that PostgreSQL
answers in about 0.2 ms (the membership lookup: 0.97 ms through the ORM, 0.31 ms this way, in a
loop of 300 calls), and a question makes several such reads before it can go upstream. The
rest of the code base uses the ORM; a caller of this module keeps its SQL next to an ORM
equivalent that its tests compare it with.

`columns` lists a model's concrete fields for a SELECT; `instance` turns the matching slice of
a row back into a model instance with `Model.from_db` after each field's own converters (for a
JSONField, say), as the ORM's compiler does. Nothing here catches database errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def columns(model: type[Model], alias: str) -> str:
    """`alias."column", …` for every concrete field of `model`, in `_meta` order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def instance(model: type[M], row: Sequence[Any], start: int = 0) -> tuple[M, int]:
    """The instance of `model` in `row` from `start` (as listed by `columns`), and the index
    of the row's next value."""
    names, converters = _layout(model)
    end = start + len(names)
    values = list(row[start:end])
    for index, expression, convert in converters:
        values[index] = convert(values[index], expression, connection)
    return model.from_db(connection.alias, names, values), end


@cache
def _layout(model: type[Model]) -> tuple[list[str], list[tuple[int, Any, Callable[..., Any]]]]:
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        # Field.get_db_converters exists (django/db/models/fields/__init__.py); the stub omits it.
        field_converters = field.get_db_converters(connection)  # type: ignore[attr-defined]
        for convert in connection.ops.get_db_converters(column) + field_converters:
            converters.append((index, column, convert))
    return [f.attname for f in fields], converters
