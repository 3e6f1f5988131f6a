"""Forms of the member portal: the two ways to log in."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gonghui.core.mobiles import MobileError, normalize_mobile


class MobileField(forms.CharField):
    """An 11-digit mainland mobile number, normalised (spaces, +86, full-width digits)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("手机号"))
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={
                    "inputmode": "tel",
                    "autocomplete": "tel",
                    "placeholder": _("请输入手机号"),
                }
            ),
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        raw = super().clean(value)
        try:
            return normalize_mobile(raw)
        except MobileError as exc:
            raise forms.ValidationError(_("请输入正确的 11 位手机号。"), code="invalid_mobile") from exc


class PortalForm(forms.Form):
    """Ties each field's error text to its input for screen readers."""

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field and field in self.fields:
            self.fields[field].widget.attrs["aria-describedby"] = f"{self[field].auto_id}-error"


class SendCodeForm(PortalForm):
    mobile = MobileField()


class SmsLoginForm(PortalForm):
    mobile = MobileField()
    code = forms.RegexField(
        label=_("验证码"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("验证码是 6 位数字。")},
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "placeholder": _("6 位数字"),
                "maxlength": "6",
            }
        ),
    )

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"]
        return code.strip()


class PasswordLoginForm(PortalForm):
    username = forms.CharField(
        label=_("登录名或手机号"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "placeholder": _("登录名或手机号")}
        ),
    )
    password = forms.CharField(
        label=_("密码"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "placeholder": _("请输入密码")}),
    )

    def clean_username(self) -> str:
        raw: str = self.cleaned_data["username"].strip()
        # People type their mobile with spaces or +86; accounts store the bare 11 digits.
        try:
            return normalize_mobile(raw)
        except MobileError:
            return raw
