"""One row by one key, with the rows its foreign keys point to — SQL written once.

The ORM compiles every query afresh: for a model of forty columns with its union joined
(``select_related``) that is ≈ 0.4 ms of CPU to write the SQL and ≈ 0.5 ms more in the
queryset machinery, where PostgreSQL answers in 0.09 ms (measured in docs/PERFORMANCE.md).
A few reads happen on every authenticated request — the session's account, the account's
member, the activity a member acts on — so a ``RowReader`` writes their SELECT once per
database and builds the instances the way the ORM does (``Model.from_db``, the backend's
and the fields' converters, the related instance in the foreign key's cache).

Only what the ORM would return: all concrete columns, no deferred fields, the related
rows joined as ``select_related`` joins them (INNER for a required key, LEFT otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models

M = TypeVar("M", bound=models.Model)

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Part:
    """One model's columns in the SELECT: where they start, how to convert them."""

    model: type[models.Model]
    attnames: list[str]
    converters: list[tuple[int, list[tuple[Converter, Any]]]]  # column offset → converters
    start: int
    pk_at: int  # the primary key's column offset: NULL there means a LEFT JOIN found no row
    via: models.ForeignKey[Any, Any] | None  # the key of the first model this one is joined by


@dataclass(frozen=True)
class _Plan:
    sql: str
    parts: list[_Part]


class RowReader(Generic[M]):
    """``RowReader(Member, "user", related=("org",)).get(user_id)`` is
    ``Member.objects.select_related("org").filter(user=user_id).first()`` for a unique key,
    without compiling the query each time. A key of several columns takes a value each:
    ``RowReader(Grant, ("activity", "member")).get(activity_id, member_id)``."""

    def __init__(self, model: type[M], key: str | Sequence[str], related: Sequence[str] = ()) -> None:
        self.model, self.related = model, tuple(related)
        self.keys = (key,) if isinstance(key, str) else tuple(key)
        self._plans: dict[str, _Plan] = {}

    def get(self, *values: Any, using: str = DEFAULT_DB_ALIAS) -> M | None:
        if len(values) != len(self.keys):
            raise TypeError(f"{len(self.keys)} key value(s) expected, {len(values)} given")
        plan = self._plans.get(using)
        if plan is None:
            plan = self._plans[using] = self._plan(using)
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, list(values))
            row = cursor.fetchone()
        if row is None:
            return None
        own, *joined = plan.parts
        root: M = _instance(own, row, connection, using)  # type: ignore[assignment]
        for part in joined:  # NULL in the related primary key: a LEFT JOIN that found no row
            related = None if row[part.start + part.pk_at] is None else _instance(part, row, connection, using)
            assert part.via is not None  # noqa: S101 - every joined part came through a key
            part.via.set_cached_value(root, related)
        return root

    def _plan(self, using: str) -> _Plan:
        connection = connections[using]
        quote = connection.ops.quote_name
        models_joined: list[tuple[type[models.Model], str, models.ForeignKey[Any, Any] | None]] = [
            (self.model, "T0", None)
        ]
        joins: list[str] = []
        for number, name in enumerate(self.related, 1):
            field = self.model._meta.get_field(name)
            if not isinstance(field, models.ForeignKey):
                raise TypeError(f"{self.model.__name__}.{name} is not a foreign key")
            target = field.related_model
            assert isinstance(target, type)  # noqa: S101 - a resolved relation
            alias = f"T{number}"
            kind = "LEFT OUTER JOIN" if field.null else "INNER JOIN"
            joins.append(
                f"{kind} {quote(target._meta.db_table)} {alias} "
                f"ON ({alias}.{quote(str(field.target_field.column))} = T0.{quote(str(field.column))})"
            )
            models_joined.append((target, alias, field))
        columns: list[str] = []
        parts: list[_Part] = []
        for model, alias, via in models_joined:
            fields = list(model._meta.concrete_fields)  # in this order: from_db takes them so
            converters: list[tuple[int, list[tuple[Converter, Any]]]] = []
            for offset, field in enumerate(fields):
                col = field.get_col(alias)
                found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
                if found:
                    converters.append((offset, [(convert, col) for convert in found]))
            pk_at = next(i for i, f in enumerate(fields) if f.primary_key)
            parts.append(_Part(model, [f.attname for f in fields], converters, len(columns), pk_at, via))
            columns.extend(f"{alias}.{quote(str(f.column))}" for f in fields)
        where: list[str] = []
        for name in self.keys:
            key = self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)
            column = getattr(key, "column", None)
            if not column:
                raise TypeError(f"{self.model.__name__}.{name} is not a column")
            where.append(f"T0.{quote(column)} = %s")
        # Every name below is the models' own (tables, columns), quoted; keys are parameters.
        sql = (
            f"SELECT {', '.join(columns)} FROM {quote(self.model._meta.db_table)} T0 {' '.join(joins)} "  # noqa: S608
            f"WHERE {' AND '.join(where)} LIMIT 1"
        )
        return _Plan(sql, parts)


def _instance(part: _Part, row: Sequence[Any], connection: Any, using: str) -> models.Model:
    """``part``'s model built from its columns of the row, converted as the ORM converts them."""
    values = list(row[part.start : part.start + len(part.attnames)])
    for offset, converters in part.converters:
        for convert, expression in converters:
            values[offset] = convert(values[offset], expression, connection)
    return part.model.from_db(using, part.attnames, values)
