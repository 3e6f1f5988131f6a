"""``manage.py totp_code <login>``: the current TOTP code of a user, for demos only.

Refused unless ``DEBUG`` is on: on a real deployment anyone with shell access could
otherwise read every cadre's second factor, which is exactly what it exists to prevent.
"""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.core.models import User


class Command(BaseCommand):
    help = "打印某个用户当前的 6 位 TOTP 验证码（仅演示环境 DEBUG=true 可用）。Prints a user's TOTP code (DEBUG only)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("login", help="登录名或手机号 login or mobile")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "totp_code 只用于演示环境（DEBUG=true）；生产环境请使用身份验证器 App。"
                " Refused: totp_code works only with DEBUG=true (demos); use an authenticator app in production."
            )
        login: str = options["login"]
        user = User.objects.filter(Q(username=login) | Q(mobile=login)).first()
        if user is None:
            raise CommandError(f"没有登录名或手机号为 {login} 的用户。No such user.")
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
        if device is None:
            raise CommandError(f"{login} 没有已确认的 TOTP 设备。The user has no confirmed TOTP device.")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        now = time.time()
        totp.time = now
        self.stdout.write(f"{totp.token():0{device.digits}d}")
        remaining = device.step - int(now - device.t0) % device.step
        self.stderr.write(f"{remaining} 秒后换新码 (next code in {remaining}s)")
