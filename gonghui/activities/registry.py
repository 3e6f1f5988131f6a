"""Activity kinds register themselves here, once.

A kind is one app under ``gonghui.activities.kinds`` (its models, actions and an
``ActivityKind`` subclass); its ``AppConfig.ready`` calls ``register``. Everything generic
— the console's create/edit/publish/close pages, the portal's "activities for me", the
eligibility answer, participation charts, the API's list and detail — works from this
registry, so adding a sixth kind is one new app plus its portal/console templates
(``portal/activities/<key>/…``, ``console/activities/<key>/…``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.utils.functional import Promise

from gonghui.core.errors import InvalidValue

StrOrPromise = str | Promise

if TYPE_CHECKING:
    from gonghui.activities.eligibility import Eligibility
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member


class ActivityKind:
    """The behaviour one kind adds to the generic Activity. Override what applies."""

    key: ClassVar[str]
    label: ClassVar[StrOrPromise]
    description: ClassVar[StrOrPromise] = ""
    # The kind's settings (stored in ``Activity.settings``), as a plain Django form: the
    # console renders it on the edit page and the API validates with it.
    settings_form: ClassVar[type[forms.Form] | None] = None
    # Members take part once (vote without daily allowance, sign-up, lottery entry, rush):
    # the Participation row is then the one-per-member guard.
    once_per_member: ClassVar[bool] = True

    def clean_settings(self, data: dict[str, Any], *, instance: Activity | None = None) -> dict[str, Any]:
        """Validated settings, or ``InvalidValue`` naming the first bad field."""
        if self.settings_form is None:
            return {}
        if instance is None and not data:
            # A new draft with no settings yet (the console creates the draft first and the
            # organiser fills the kind's settings in on the edit page): start from the
            # form's initial values. Publishing (``check_publish``) refuses what is missing.
            fields = self.settings_form().fields
            return {
                name: _jsonable(field.initial)
                for name, field in fields.items()
                if field.initial is not None and not callable(field.initial)
            }
        initial = dict(instance.settings) if instance is not None else {}
        form = self.settings_form(data={**initial, **data})
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            label = form.fields[field].label if field in form.fields else ""
            raise InvalidValue("ACTIVITY_SETTINGS_INVALID", f"{label or field}：{errors[0]}", field=field)
        return {k: _jsonable(v) for k, v in form.cleaned_data.items()}

    def check_publish(self, activity: Activity) -> None:
        """Raise ``DomainError`` when the activity is not ready (no candidates, no prizes…)."""

    def on_publish(self, activity: Activity) -> None:
        """After publishing, inside the same transaction (a lottery commits to its seed)."""

    def on_close(self, activity: Activity) -> None:
        """Once, after the activity ends (draw, ballot mixing, final tally). Idempotent."""

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        """A kind's own reason a member cannot act now (already voted, no attempts left)."""
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        """What the results pages and the API show; hide what the rules hide."""
        return {}

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        """Headers and rows of the organiser's export (anonymised where the kind says)."""
        return [], []


def _jsonable(value: Any) -> Any:
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


_KINDS: dict[str, ActivityKind] = {}


def register(kind: ActivityKind) -> ActivityKind:
    if kind.key in _KINDS and type(_KINDS[kind.key]) is not type(kind):
        raise RuntimeError(f"activity kind {kind.key!r} registered twice")
    _KINDS[kind.key] = kind
    return kind


def get(key: str) -> ActivityKind:
    try:
        return _KINDS[key]
    except KeyError:
        raise InvalidValue("ACTIVITY_KIND_UNKNOWN", f"未知的活动类型：{key}") from None


def all_kinds() -> list[ActivityKind]:
    return list(_KINDS.values())


def choices() -> list[tuple[str, str]]:
    return [(k.key, str(k.label)) for k in _KINDS.values()]
