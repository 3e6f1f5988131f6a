"""``manage.py grant_card_verifier <login>``: let a partner merchant's account check member cards.

Cadres may always use /card/verify; merchants need membership of the ``card_verifiers``
auth group, which this command grants (``--revoke`` takes it away). Both are audited.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from gonghui.core.models import User
from gonghui.members import card_tokens


class Command(BaseCommand):
    help = (
        "为合作商户账号开通（或用 --revoke 取消）会员卡核验权限。"
        " Adds a user to (or removes from) the card_verifiers group."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("login", help="登录名或手机号 login or mobile")
        parser.add_argument("--revoke", action="store_true", help="取消核验权限 remove the permission")

    def handle(self, *args: Any, **options: Any) -> None:
        login: str = options["login"]
        revoke: bool = options["revoke"]
        user = User.objects.filter(Q(username=login) | Q(mobile=login)).first()
        if user is None:
            raise CommandError(f"没有登录名或手机号为 {login} 的用户。No such user.")
        changed = card_tokens.grant_verifier(actor=None, user=user, revoke=revoke)
        if revoke:
            message = "已取消核验权限" if changed else "该用户本来就没有核验权限"
        else:
            message = "已开通会员卡核验权限" if changed else "该用户已有核验权限"
        self.stdout.write(f"{user.username}：{message}")
