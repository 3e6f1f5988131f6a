"""``manage.py demo_logins``: the demo accounts ``seed_demo`` created, and where to use them."""

from __future__ import annotations

import base64
import unicodedata
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.core.models import User
from gonghui.members import seeding
from gonghui.members.models import Member
from gonghui.orgs.models import Role


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _grouped(secret: str) -> str:
    """Base32 in groups of four, as authenticator apps show it."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class Command(BaseCommand):
    help = "列出演示账号（角色、登录名、密码、所在工会、TOTP 密钥）和访问地址。Prints the demo logins and URLs."

    def handle(self, *args: Any, **options: Any) -> None:
        users = {u.username: u for u in User.objects.filter(username__in=[a.login for a in seeding.DEMO_ACCOUNTS])}
        if not users:
            self.stdout.write(
                "还没有演示账号：先运行 python manage.py seed_demo。No demo logins yet: run seed_demo first."
            )
            return
        roles = {r.user_id: r for r in Role.objects.filter(user__in=users.values()).select_related("org")}
        devices = {d.user_id: d for d in TOTPDevice.objects.filter(user__in=users.values(), confirmed=True)}
        members = {m.user_id: m for m in Member.objects.filter(user__in=users.values()).select_related("org")}
        rows = [("角色 Role", "登录名 Login", "所在工会 Union", "TOTP 密钥 secret (base32)")]
        for account in seeding.DEMO_ACCOUNTS:
            user = users.get(account.login)
            if user is None:
                continue
            role, device, member = roles.get(user.pk), devices.get(user.pk), members.get(user.pk)
            union = role.org.name if role else member.org.name if member else "—"
            login = account.login if account.role else f"{account.login} / {account.mobile}"
            secret = _grouped(base64.b32encode(device.bin_key).decode()) if device else "—（会员无需 not needed）"
            if not user.check_password(seeding.DEMO_PASSWORD):
                login += "（密码已改 password changed）"
            rows.append((f"{account.title} {account.title_en}", login, union, secret))
        widths = [max(_width(row[i]) for row in rows) for i in range(3)]
        self.stdout.write(f"演示账号 Demo logins — 密码 password: {seeding.DEMO_PASSWORD}")
        for row in rows:
            self.stdout.write("  ".join([*(_pad(cell, w) for cell, w in zip(row, widths, strict=False)), row[3]]))
        self.stdout.write("")
        self.stdout.write("干部登录需要第二因素：把 TOTP 密钥加入身份验证器 App，或取当前验证码：")
        self.stdout.write(
            "Cadres need a second factor: add the secret to an authenticator app, or get the current code:"
        )
        self.stdout.write("    python manage.py totp_code <login>      （只在 DEBUG=true 时可用 only with DEBUG=true）")
        self.stdout.write("会员也可以用手机号 + 短信验证码登录：验证码在沙箱发件箱（控制台“短信发件箱”）和服务日志里。")
        self.stdout.write("The member may also log in by mobile + SMS code: the sandbox outbox (console, log) has it.")
        root = settings.SITE_ROOT.rstrip("/")
        self.stdout.write("")
        self.stdout.write(f"会员门户 Portal:       {root}/")
        self.stdout.write(f"干部控制台 Console:    {root}/console/")
        self.stdout.write(f"API 文档 API docs:     {root}/api/docs")
        if not settings.DEBUG:
            self.stderr.write(
                "注意：DEBUG 未开启。演示账号不应出现在生产环境。Demo accounts do not belong in production."
            )
