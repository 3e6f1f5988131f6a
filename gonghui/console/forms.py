"""Console forms. They parse and tidy input; the domain actions decide what is allowed.

A ``DomainError`` raised by an action lands on the form through ``add_domain_error``:
its code picks the field it belongs to and its Chinese message is shown inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from gonghui.core import uscc
from gonghui.core.access import RoleKind
from gonghui.core.errors import DomainError
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.members.models import (
    Education,
    EmploymentStatus,
    HouseholdType,
    MemberStatus,
    NewEmploymentGroup,
    PoliticalStatus,
    SkillLevel,
)
from gonghui.orgs.models import Org, OrgLevel, UnitType


class ConsoleForm(forms.Form):
    """Gives every widget the console's classes and ties errors to inputs for screen readers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "checkbox")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "select")
            else:
                widget.attrs.setdefault("class", "input")

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in getattr(self, "_errors", None) or {}:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].auto_id}-error"


def add_domain_error(form: forms.Form, exc: DomainError, fields: Mapping[str, str] | None = None) -> None:
    """Show ``exc`` on the field its code names (else above the form)."""
    name = (fields or {}).get(exc.code)
    form.add_error(name if name in form.fields else None, exc.message)


def _blank_choices(choices: Iterable[tuple[str, Any]], label: Any = None) -> list[tuple[str, Any]]:
    return [("", label if label is not None else _("（未填）")), *choices]


# --- signing in --------------------------------------------------------------------------


class MobileField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("手机号"))
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel", "placeholder": _("11 位手机号")}),
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        raw = super().clean(value)
        if not raw:
            return ""
        try:
            return normalize_mobile(raw)
        except MobileError as exc:
            raise forms.ValidationError(_("请输入正确的 11 位手机号。"), code="invalid_mobile") from exc


class PasswordLoginForm(ConsoleForm):
    username = forms.CharField(
        label=_("登录名或手机号"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("密码"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_username(self) -> str:
        raw: str = self.cleaned_data["username"].strip()
        try:
            return normalize_mobile(raw)
        except MobileError:
            return raw


class SendCodeForm(ConsoleForm):
    mobile = MobileField()


class SmsLoginForm(ConsoleForm):
    mobile = MobileField()
    code = forms.RegexField(
        label=_("短信验证码"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("验证码是 6 位数字。")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6", "placeholder": "000000"}
        ),
    )

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"]
        return code.strip()


class OtpForm(ConsoleForm):
    code = forms.CharField(
        label=_("动态口令或恢复码"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "autofocus": True,
                "placeholder": _("6 位数字"),
                "spellcheck": "false",
            }
        ),
    )


class EnrollForm(ConsoleForm):
    code = forms.RegexField(
        label=_("验证码"),
        regex=r"^\s*\d{3}\s*\d{3}\s*$",
        max_length=12,
        error_messages={"invalid": _("请输入验证器 App 显示的 6 位数字。")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "7", "placeholder": "000000"}
        ),
    )


# --- the union tree ----------------------------------------------------------------------

ORG_ERROR_FIELDS = {
    "ORG_NAME_REQUIRED": "name",
    "ORG_USCC_TAKEN": "uscc",
    "ORG_BAD_REGION": "region_code",
    "ORG_BAD_TERM": "term_end",
    "ORG_BAD_THEME_COLOR": "theme_color",
    "ORG_BAD_INDUSTRY_PARENT": "industry_parent",
    "ORG_BAD_LEVEL": "level",
    "ORG_MOVE_INTO_SELF": "new_parent",
    "ORG_MOVE_ROOT": "new_parent",
    "ORG_CLOSED": "new_parent",
    "ORG_CLOSE_REASON_REQUIRED": "reason",
}

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class OrgForm(ConsoleForm):
    """The fields of a union record (orgs.actions.EDITABLE_FIELDS)."""

    name = forms.CharField(label=_("工会名称"), max_length=200)
    short_name = forms.CharField(label=_("简称"), max_length=60, required=False)
    uscc = forms.CharField(
        label=_("工会统一社会信用代码"),
        max_length=40,
        required=False,
        help_text=_("工会法人资格证书上的代码，以 81 或 89 开头。"),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    chair_name = forms.CharField(label=_("工会主席"), max_length=64, required=False)
    unit_name = forms.CharField(label=_("单位名称"), max_length=200, required=False)
    unit_uscc = forms.CharField(
        label=_("单位统一社会信用代码"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    unit_type = forms.ChoiceField(label=_("单位性质"), choices=_blank_choices(UnitType.choices), required=False)
    industry = forms.CharField(label=_("所属行业"), max_length=60, required=False)
    employee_count = forms.IntegerField(label=_("职工人数"), min_value=0, max_value=2_147_483_647, required=False)
    declared_member_count = forms.IntegerField(
        label=_("会员人数（申报）"), min_value=0, max_value=2_147_483_647, required=False
    )
    region_code = forms.CharField(
        label=_("行政区划代码"),
        max_length=6,
        required=False,
        help_text=_("GB/T 2260 六位代码，如 440106。"),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    address = forms.CharField(label=_("地址"), max_length=300, required=False)
    founded_on = forms.DateField(label=_("成立日期"), required=False, widget=DATE_INPUT)
    approval_date = forms.DateField(label=_("批准日期"), required=False, widget=DATE_INPUT)
    approval_doc_no = forms.CharField(label=_("批复文号"), max_length=100, required=False)
    term_start = forms.DateField(label=_("本届任期开始"), required=False, widget=DATE_INPUT)
    term_end = forms.DateField(label=_("本届任期结束"), required=False, widget=DATE_INPUT)
    industry_parent = forms.ModelChoiceField(
        label=_("所属产业工会"),
        queryset=Org.objects.none(),
        required=False,
        empty_label=_("（无）"),
        help_text=_("第二上级，只用于统计，不改变管辖关系。"),
    )
    is_pool_union = forms.BooleanField(
        label=_("新就业形态兜底工会"),
        required=False,
        help_text=_("接收没有单位工会的快递员、外卖骑手、网约车司机、货车司机等入会；“一键找工会”会向他们推荐。"),
    )
    intro = forms.CharField(label=_("简介"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
    theme_color = forms.RegexField(
        label=_("主题色"),
        regex=r"^#[0-9a-fA-F]{6}$",
        initial="#c8161d",
        error_messages={"invalid": _("主题色应为 #RRGGBB 形式的颜色值。")},
        widget=forms.TextInput(attrs={"type": "color"}),
    )

    fieldsets: tuple[tuple[Any, tuple[str, ...]], ...] = (
        (_("基本信息"), ("name", "short_name", "uscc", "chair_name")),
        (_("所在单位"), ("unit_name", "unit_uscc", "unit_type", "industry", "employee_count", "declared_member_count")),
        (_("地址与区划"), ("region_code", "address", "is_pool_union")),
        (_("批准与任期"), ("founded_on", "approval_date", "approval_doc_no", "term_start", "term_end")),
        (_("门户展示"), ("industry_parent", "intro", "theme_color")),
    )

    def __init__(self, *args: Any, industry_unions: QuerySet[Org] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["industry_parent"])  # type: ignore[type-arg]
        field.queryset = industry_unions if industry_unions is not None else Org.objects.none()

    def clean_uscc(self) -> str:
        raw: str = self.cleaned_data["uscc"].strip()
        if not raw:
            return ""
        try:
            return uscc.parse(raw, union=True)
        except uscc.UsccError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc

    def clean_unit_uscc(self) -> str:
        raw: str = self.cleaned_data["unit_uscc"].strip()
        if not raw:
            return ""
        try:
            return uscc.parse(raw)
        except uscc.UsccError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc

    def values(self) -> dict[str, Any]:
        """Cleaned values as ``orgs.actions`` takes them."""
        return {name: self.cleaned_data[name] for name in self.fields if name != "level"}

    def grouped(self) -> list[tuple[Any, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names if name in self.fields]) for title, names in self.fieldsets]


class OrgCreateForm(OrgForm):
    level = forms.ChoiceField(label=_("层级"), choices=())

    fieldsets = (
        (_("基本信息"), ("level", "name", "short_name", "uscc", "chair_name")),
        *OrgForm.fieldsets[1:],
    )

    def __init__(self, *args: Any, parent: Org, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from gonghui.orgs.models import ALLOWED_CHILDREN

        allowed = ALLOWED_CHILDREN[parent.level]
        level = cast(forms.ChoiceField, self.fields["level"])
        level.choices = [(value, label) for value, label in OrgLevel.choices if value in allowed]
        if len(level.choices) == 1:
            level.initial = level.choices[0][0]


IMAGE_ACCEPT = "image/png,image/jpeg,image/webp"

BRANDING_ERROR_FIELDS = {"ORG_BAD_THEME_COLOR": "theme_color"}


class BrandingForm(ConsoleForm):
    """A union's look on its portal home page: logo, banner, colour, introduction.

    The images are only received here; ``orgs.actions.set_branding`` decides whether they
    are acceptable (size, type, a real image).
    """

    logo = forms.FileField(
        label=_("标志"),
        required=False,
        help_text=_("PNG、JPEG 或 WebP，不超过 2 MB。建议使用正方形图片，不小于 240×240 像素。"),
        widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
    )
    clear_logo = forms.BooleanField(label=_("删除现有标志，改用名称首字"), required=False)
    banner = forms.FileField(
        label=_("横幅"),
        required=False,
        help_text=_("PNG、JPEG 或 WebP，不超过 2 MB。建议横向图片，宽高比约 3:1，宽度不小于 1200 像素。"),
        widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
    )
    clear_banner = forms.BooleanField(label=_("删除现有横幅，改用主题色背景"), required=False)
    theme_color = forms.RegexField(
        label=_("主题色"),
        regex=r"^#[0-9a-fA-F]{6}$",
        error_messages={
            "invalid": _("主题色应为 #RRGGBB 形式的颜色值。"),
            "required": _("请选择主题色。"),
        },
        help_text=_("用于首页横幅背景和按钮。文字颜色会自动选择黑或白，保证清晰可读。"),
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    intro = forms.CharField(
        label=_("工会简介"),
        required=False,
        max_length=5000,
        help_text=_("显示在首页横幅下方，最多 5000 字。"),
        widget=forms.Textarea(attrs={"rows": 6}),
    )

    def clean_theme_color(self) -> str:
        color: str = self.cleaned_data["theme_color"]
        return color.lower()


class OrgMoveForm(ConsoleForm):
    new_parent = forms.IntegerField(
        label=_("新的上级组织"),
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择新的上级组织。")},
    )


class OrgCloseForm(ConsoleForm):
    reason = forms.CharField(
        label=_("撤销原因"),
        max_length=500,
        error_messages={"required": _("请填写撤销原因。")},
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("例如：单位注销、合并到其他单位等")}),
    )


class RoleGrantForm(ConsoleForm):
    identifier = forms.CharField(
        label=_("账号"),
        max_length=64,
        help_text=_("填写对方的登录名或手机号；对方须已有账号。"),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(label=_("角色"), choices=RoleKind.choices)


class SecondFactorResetForm(ConsoleForm):
    reason = forms.CharField(
        label=_("重置原因"),
        max_length=200,
        error_messages={"required": _("请填写重置原因。")},
        widget=forms.TextInput(attrs={"placeholder": _("例如：手机丢失，本人电话确认")}),
    )


class MobileProofForm(ConsoleForm):
    code = forms.RegexField(
        label=_("短信验证码"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("验证码是 6 位数字。"), "required": _("请输入短信验证码。")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "6", "placeholder": "000000"}
        ),
    )

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"]
        return code.strip()


# --- members -------------------------------------------------------------------------------

MEMBER_ERROR_FIELDS = {
    "MEMBER_NAME_REQUIRED": "name",
    "MOBILE_INVALID": "mobile",
    "MOBILE_REQUIRED": "mobile",
}


class MemberFilterForm(ConsoleForm):
    q = forms.CharField(
        label=_("搜索"),
        max_length=40,
        required=False,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("姓名 / 拼音首字母 / 手机号 / 身份证号"),
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )
    status = forms.ChoiceField(
        label=_("会籍状态"), choices=_blank_choices(MemberStatus.choices, _("全部状态")), required=False
    )
    org = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    after = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class MemberEditForm(ConsoleForm):
    name = forms.CharField(label=_("姓名"), max_length=64)
    mobile = MobileField(required=False)
    ethnicity = forms.CharField(label=_("民族"), max_length=16, required=False)
    education = forms.ChoiceField(label=_("学历"), choices=_blank_choices(Education.choices), required=False)
    political_status = forms.ChoiceField(
        label=_("政治面貌"), choices=_blank_choices(PoliticalStatus.choices), required=False
    )
    household_type = forms.ChoiceField(
        label=_("户籍类型"), choices=_blank_choices(HouseholdType.choices), required=False
    )
    employment_status = forms.ChoiceField(label=_("就业状态"), choices=EmploymentStatus.choices)
    is_migrant_worker = forms.BooleanField(label=_("农民工"), required=False)
    new_employment_group = forms.ChoiceField(
        label=_("新就业形态群体"), choices=_blank_choices(NewEmploymentGroup.choices, _("（不属于）")), required=False
    )
    skill_level = forms.ChoiceField(label=_("技能等级"), choices=_blank_choices(SkillLevel.choices), required=False)
    workplace = forms.CharField(label=_("工作单位"), max_length=200, required=False)
    join_date = forms.DateField(label=_("入会日期"), widget=DATE_INPUT)
    bank_name = forms.CharField(label=_("开户行"), max_length=100, required=False)

    fieldsets = (
        (_("身份与联系"), ("name", "mobile", "ethnicity")),
        (
            _("就业与背景"),
            (
                "employment_status",
                "workplace",
                "education",
                "political_status",
                "household_type",
                "skill_level",
                "new_employment_group",
                "is_migrant_worker",
            ),
        ),
        (_("会籍与账户"), ("join_date", "bank_name")),
    )

    def grouped(self) -> list[tuple[Any, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.fieldsets]


class RevealForm(forms.Form):
    field = forms.ChoiceField(choices=[("id_number", "id_number"), ("bank_account", "bank_account")])
    reason = forms.CharField(max_length=200, required=False)


REVEAL_REASONS = (
    _("核实会员身份"),
    _("办理会籍业务"),
    _("帮扶救助审核"),
    _("普惠发放核对"),
    _("其他工作需要"),
)


# --- audit log and SMS outbox ----------------------------------------------------------------


class AuditFilterForm(ConsoleForm):
    action = forms.CharField(
        label=_("操作"),
        max_length=64,
        required=False,
        help_text=_("以“.”结尾表示一类，如 member."),
        widget=forms.TextInput(attrs={"list": "audit-actions", "spellcheck": "false", "autocomplete": "off"}),
    )
    actor = forms.CharField(label=_("操作人"), max_length=100, required=False)
    date_from = forms.DateField(label=_("开始日期"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("结束日期"), required=False, widget=DATE_INPUT)
    object_type = forms.ChoiceField(label=_("对象类型"), required=False, choices=())
    object_id = forms.CharField(label=_("对象编号"), max_length=64, required=False)
    after = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, object_types: Iterable[tuple[str, Any]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["object_type"])
        field.choices = _blank_choices(object_types, _("全部类型"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("结束日期不能早于开始日期。"))
        return data


class SmsFilterForm(ConsoleForm):
    mobile = MobileField(required=False)
    after = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
