"""A sign-up's settings: the form organisers fill in, and reading them back.

The custom form fields (报名表) are stored in ``Activity.settings["form_fields"]`` as a list of
``{"key", "label", "type", "required", "choices"}``. In the console they are edited as
lines of text, one field per line::

    T恤尺码 | 选择 | 必填 | S/M/L/XL
    随行人数 | 数字 | 选填
    紧急联系人 | 文本 | 必填
    出发日期 | 日期

The API sends the list itself. Both go through ``FormFieldsField``, which accepts either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings as django_settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.core.errors import InvalidValue

if TYPE_CHECKING:
    from gonghui.activities.models import Activity

FIELD_TYPES: dict[str, str] = {"text": "文本", "number": "数字", "choice": "选择", "date": "日期"}
_TYPE_ALIASES = {**{v: k for k, v in FIELD_TYPES.items()}, **{k: k for k in FIELD_TYPES}, "单选": "choice"}
MAX_FIELDS = 20
MAX_TEXT = 200
DEFAULT_CONFIRM_HOURS = 24


def default_confirm_hours() -> int:
    return int(getattr(django_settings, "ACTIVITY_SIGNUP_CONFIRM_HOURS", DEFAULT_CONFIRM_HOURS))


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    type: str
    required: bool
    choices: tuple[str, ...] = ()

    @property
    def type_label(self) -> str:
        return FIELD_TYPES[self.type]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "choices": list(self.choices),
        }


def _spec(index: int, label: str, type_: str, required: bool, choices: list[str]) -> FieldSpec:
    label = label.strip()
    if not label:
        raise forms.ValidationError(_("第 %(n)s 个字段缺少名称。"), params={"n": index})
    kind = _TYPE_ALIASES.get(type_.strip().lower() or "text")
    if kind is None:
        raise forms.ValidationError(
            _("“%(label)s”的类型“%(type)s”无效，可用：文本、数字、选择、日期。"), params={"label": label, "type": type_}
        )
    clean_choices = [c.strip() for c in choices if c.strip()]
    if kind == "choice" and len(clean_choices) < 2:
        raise forms.ValidationError(_("选择题“%(label)s”至少需要两个选项（用 / 分隔）。"), params={"label": label})
    if kind != "choice":
        clean_choices = []
    return FieldSpec(f"f{index}", label[:40], kind, required, tuple(dict.fromkeys(clean_choices)))


def parse_fields(value: Any) -> list[FieldSpec]:
    """Field specs from the API's list or the console's lines; ``ValidationError`` if bad."""
    if value in (None, "", []):
        return []
    specs: list[FieldSpec] = []
    if isinstance(value, list):
        for i, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                raise forms.ValidationError(_("报名表字段格式无效。"))
            choices = item.get("choices") or []
            if not isinstance(choices, list):
                raise forms.ValidationError(_("选项须为列表。"))
            specs.append(
                _spec(i, str(item.get("label", "")), str(item.get("type", "text")), bool(item.get("required")), choices)
            )
    elif isinstance(value, str):
        lines = [line for line in value.splitlines() if line.strip()]
        for i, line in enumerate(lines, start=1):
            parts = [p.strip() for p in re.split(r"[|｜]", line)]
            label, type_ = parts[0], parts[1] if len(parts) > 1 else "text"
            required = len(parts) > 2 and parts[2] in ("必填", "required", "是", "yes", "1")
            choices = re.split(r"[/／,，、]", parts[3]) if len(parts) > 3 else []
            specs.append(_spec(i, label, type_, required, choices))
    else:
        raise forms.ValidationError(_("报名表字段格式无效。"))
    if len(specs) > MAX_FIELDS:
        raise forms.ValidationError(_("报名表最多 %(n)s 个字段。"), params={"n": MAX_FIELDS})
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise forms.ValidationError(_("报名表字段名称不能重复。"))
    return specs


class FieldsTextarea(forms.Textarea):
    def format_value(self, value: Any) -> str | None:
        if isinstance(value, list):
            lines = []
            for item in value:
                if not isinstance(item, dict):
                    continue
                line = f"{item.get('label', '')} | {FIELD_TYPES.get(item.get('type', 'text'), '文本')} | "
                line += "必填" if item.get("required") else "选填"
                if item.get("choices"):
                    line += " | " + "/".join(item["choices"])
                lines.append(line)
            return "\n".join(lines)
        formatted: str | None = super().format_value(value)
        return formatted


class LocalDateTimeInput(forms.DateTimeInput):
    """A phone-friendly date-and-time picker that also shows the stored ISO string."""

    input_type = "datetime-local"

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, str) and value:
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return str(value)  # what the organiser typed, shown back with its error
        if isinstance(value, datetime):
            local = timezone.localtime(value) if timezone.is_aware(value) else value
            return local.strftime("%Y-%m-%dT%H:%M")
        return None


class FormFieldsField(forms.Field):
    widget = FieldsTextarea(attrs={"rows": 5, "placeholder": "T恤尺码 | 选择 | 必填 | S/M/L/XL"})

    def to_python(self, value: Any) -> list[dict[str, Any]]:
        return [s.as_dict() for s in parse_fields(value)]


class SignUpSettingsForm(forms.Form):
    capacity = forms.IntegerField(label=_("名额"), min_value=1, max_value=1_000_000)
    waitlist_enabled = forms.BooleanField(label=_("名额满后允许候补"), required=False, initial=True)
    waitlist_size = forms.IntegerField(
        label=_("候补人数上限"), min_value=0, max_value=1_000_000, required=False, help_text=_("0 或留空表示不限。")
    )
    event_starts_at = forms.DateTimeField(
        label=_("活动举办时间"),
        required=False,
        widget=LocalDateTimeInput(),
        help_text=_("现场活动开始的时间；取消截止可按它前推若干小时。"),
    )
    venue = forms.CharField(label=_("活动地点"), max_length=120, required=False)
    cancel_deadline = forms.DateTimeField(label=_("取消报名截止时间"), required=False, widget=LocalDateTimeInput())
    cancel_hours_before = forms.IntegerField(
        label=_("举办前多少小时停止取消"), min_value=0, max_value=24 * 60, required=False
    )
    confirm_hours = forms.IntegerField(
        label=_("递补确认时限（小时）"),
        min_value=1,
        max_value=24 * 30,
        required=False,
        help_text=_("候补会员获得递补名额后须在此时限内确认，逾期名额顺延给下一位。"),
    )
    form_fields = FormFieldsField(
        label=_("报名表字段"),
        required=False,
        help_text=_("每行一个字段：名称 | 类型（文本/数字/选择/日期）| 必填或选填 | 选项（选择题，用 / 分隔）。"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("cancel_deadline") and data.get("cancel_hours_before") is not None:
            raise forms.ValidationError(_("取消截止时间与“举办前多少小时”只能填一项。"))
        if data.get("cancel_hours_before") is not None and not data.get("event_starts_at"):
            self.add_error("event_starts_at", _("按“举办前多少小时”截止取消时，请填写活动举办时间。"))
        if not data.get("confirm_hours"):
            data["confirm_hours"] = default_confirm_hours()
        if not data.get("waitlist_enabled") or data.get("waitlist_size") is None:
            data["waitlist_size"] = 0
        return data


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


@dataclass(frozen=True)
class SignUpRules:
    """``Activity.settings`` of a sign-up, read once and typed."""

    capacity: int
    waitlist_enabled: bool
    waitlist_size: int  # 0 = unlimited (when enabled)
    event_starts_at: datetime | None
    venue: str
    cancel_deadline_at: datetime | None  # the effective deadline, whichever way it was given
    confirm_hours: int
    fields: tuple[FieldSpec, ...]

    @classmethod
    def of(cls, activity: Activity) -> SignUpRules:
        s = activity.settings or {}
        event = _dt(s.get("event_starts_at"))
        deadline = _dt(s.get("cancel_deadline"))
        hours = s.get("cancel_hours_before")
        if deadline is None and hours is not None and event is not None:
            deadline = event - timedelta(hours=int(hours))
        return cls(
            capacity=int(s.get("capacity") or 0),
            waitlist_enabled=bool(s.get("waitlist_enabled")),
            waitlist_size=int(s.get("waitlist_size") or 0),
            event_starts_at=event,
            venue=str(s.get("venue") or ""),
            cancel_deadline_at=deadline,
            confirm_hours=int(s.get("confirm_hours") or default_confirm_hours()),
            fields=tuple(parse_fields(s.get("form_fields") or [])),
        )

    @property
    def waitlist_limit(self) -> int | None:
        """For the ``Seats`` row: 0 = no waitlist, ``None`` = unlimited."""
        if not self.waitlist_enabled:
            return 0
        return self.waitlist_size or None

    def can_cancel_at(self, now: datetime) -> bool:
        return self.cancel_deadline_at is None or now < self.cancel_deadline_at


def clean_answers(specs: tuple[FieldSpec, ...], raw: dict[str, Any]) -> dict[str, Any]:
    """The member's answers, validated against the organiser's fields (keyed by ``key``).

    Raises ``InvalidValue`` naming the first bad field.
    """
    answers: dict[str, Any] = {}
    for spec in specs:
        value = raw.get(spec.key)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            if spec.required:
                raise InvalidValue("SIGNUP_FIELD_REQUIRED", f"请填写“{spec.label}”。", field=spec.key)
            continue
        if spec.type == "text":
            text = str(value)
            if len(text) > MAX_TEXT:
                raise InvalidValue("SIGNUP_FIELD_TOO_LONG", f"“{spec.label}”不能超过 {MAX_TEXT} 个字。", field=spec.key)
            answers[spec.key] = text
        elif spec.type == "number":
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                number = Decimal("NaN")
            if not number.is_finite() or abs(number) > 10**9:
                raise InvalidValue("SIGNUP_FIELD_NUMBER", f"“{spec.label}”须填写数字。", field=spec.key)
            answers[spec.key] = int(number) if number == number.to_integral_value() else float(number)
        elif spec.type == "choice":
            if str(value) not in spec.choices:
                raise InvalidValue(
                    "SIGNUP_FIELD_CHOICE", f"“{spec.label}”请从选项中选择：{'、'.join(spec.choices)}。", field=spec.key
                )
            answers[spec.key] = str(value)
        elif spec.type == "date":
            try:
                answers[spec.key] = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise InvalidValue(
                    "SIGNUP_FIELD_DATE", f"“{spec.label}”须为日期（如 2026-05-01）。", field=spec.key
                ) from None
    return answers
