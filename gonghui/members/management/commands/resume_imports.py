"""``manage.py resume_imports``: re-enqueue member imports whose worker died (run from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.members import importing


class Command(BaseCommand):
    help = "重新排队心跳超时的会员导入任务（worker 被终止后从最后提交的批次继续）。Re-enqueue stale member imports."

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = importing.resume_imports()
        self.stdout.write(f"resumed {len(resumed)} import(s): {', '.join(map(str, resumed)) or '-'}")
