"""``manage.py seed_demo --members N``: a realistic demo province (see members.seeding)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from gonghui.members import seeding
from gonghui.orgs.models import Org


class Command(BaseCommand):
    help = (
        "生成演示数据：广东省总工会 → 21 个市总工会 → 县(区)总工会 → 街道/乡镇工会 → 基层工会（约每 150 名会员一个），"
        "几个产业工会，N 名会员（身份证号加密存储）和演示账号。相同 --seed 生成相同的数据。"
        " Builds the demo province with N members and the demo logins; deterministic for --seed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--members", type=int, default=2000, help="会员人数（含演示会员），默认 2000")
        parser.add_argument("--seed", type=int, default=seeding.DEFAULT_SEED, help="随机种子，默认 2026")
        parser.add_argument("--if-empty", action="store_true", help="已有任何工会组织时什么也不做（make run 用）")
        parser.add_argument(
            "--batch",
            type=int,
            default=seeding.DEFAULT_BATCH,
            help="每批的会员数，默认 5000（每批报告一次进度；SQLite 上每批一次批量插入，PostgreSQL 上一个 COPY 流）",
        )
        parser.add_argument(
            "--city",
            default=None,
            metavar="CODE",
            help="把所有有会员的基层工会放在这个市（行政区划代码，如 440100）：基准测试用，得到一个有 N 名会员的市",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        members: int = options["members"]
        if members < 1 or options["batch"] < 1:
            raise CommandError("--members 和 --batch 都必须至少为 1。")
        if Org.objects.exists():
            if options["if_empty"]:
                self.stdout.write("已有工会组织数据，跳过生成演示数据（--if-empty）。")
                return
            raise CommandError("数据库里已经有工会组织：演示数据只生成到空数据库（或加 --if-empty 跳过）。")
        try:
            result = seeding.seed(
                members=members,
                seed=options["seed"],
                batch=options["batch"],
                city=options["city"],
                progress=self._progress,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"已生成演示数据：{result.orgs:,} 个工会组织（{result.grassroots:,} 个基层工会），"
            f"{result.members:,} 名会员；用时 {result.seconds:.1f} 秒，会员写入 {result.rows_per_second:,.0f} 行/秒，"
            f"内存峰值 {result.peak_rss_mb:,.0f} MB。"
        )
        self.stdout.write("演示账号：python manage.py demo_logins")

    def _progress(self, written: int, planned: int, seconds: float) -> None:
        rate = written / seconds if seconds else 0.0
        share = 100 * written / planned if planned else 100.0
        self.stderr.write(f"会员 members {written:,}/{planned:,} ({share:.1f}%) · {rate:,.0f} 行/秒 rows/s")
        self.stderr.flush()
