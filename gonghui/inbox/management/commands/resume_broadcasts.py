"""``manage.py resume_broadcasts``: re-enqueue broadcasts whose worker died mid-way.

Run it from cron every few minutes (and when task workers start, e.g. ``ExecStartPre``):

    */5 * * * *  cd /srv/gonghui && .venv/bin/python manage.py resume_broadcasts

A broadcast counts as abandoned when it is queued or running, its task is not waiting in
the queue, and its heartbeat (written with every committed batch) is older than
``BROADCAST_STALE_SECONDS`` (default 120). Delivery resumes after the last committed
batch; nothing is delivered twice.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.inbox.actions import resume_stale_broadcasts


class Command(BaseCommand):
    help = "重新排队因任务进程中断而未完成的群发消息 / re-enqueue broadcasts whose worker died"

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = resume_stale_broadcasts()
        if resumed:
            self.stdout.write(f"resumed {len(resumed)} broadcast(s): {', '.join(map(str, resumed))}")
        elif options["verbosity"] > 1:
            self.stdout.write("no abandoned broadcasts")
