"""``manage.py import_members FILE --org ORG``: the member import pipeline, synchronously."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gonghui.core import uscc
from gonghui.core.errors import DomainError
from gonghui.core.models import User
from gonghui.members import importing
from gonghui.members.models import ImportJob
from gonghui.orgs.models import Org


class Command(BaseCommand):
    help = (
        "从 xlsx 或 csv（UTF-8、UTF-8 BOM、GBK/GB18030 自动识别）导入会员到一个工会：与管理后台相同的流程"
        "（规范化、校验、文件内去重、与全平台比对：本会会员为更新，其他工会会员生成转会申请）。"
        " Imports members into --org (id or USCC); --dry-run only previews."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="xlsx 或 csv 文件")
        parser.add_argument("--org", required=True, help="导入到的工会：id 或统一社会信用代码")
        parser.add_argument("--dry-run", action="store_true", help="只预检、不写入")
        parser.add_argument("--json", action="store_true", help="只输出一个 JSON 汇总对象")
        parser.add_argument("--user", default="", help="以该干部账号（用户名）发起转会并记入审计；不填则不发起转会")

    def handle(self, *args: Any, **options: Any) -> None:
        org = self._org(options["org"])
        actor = None
        if options["user"]:
            actor = User.objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"找不到用户 {options['user']}。")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"找不到文件 {path}。")
        try:
            with path.open("rb") as handle:
                job = importing.new_job(actor, org, File(handle), name=path.name)
            summary = importing.dry_run(job)
            if not options["dry_run"]:
                job.committing = True
                job.save(update_fields=["committing"])
                job = importing.commit(job)
        except DomainError as exc:
            raise CommandError(f"[{exc.code}] {exc.message}") from exc
        result = self._result(job, summary, options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        self.stdout.write(
            f"{path.name}：{result['rows']} 行；新增 {result['created']}，更新 {result['updated']}，"
            f"转会 {result['transfers']}，无变化 {result['unchanged']}，未导入 {result['rejected']}"
            + ("（预检，未写入）" if options["dry_run"] else "")
        )
        for code, info in result["reasons"].items():
            rows = "、".join(str(r) for r in info["rows"][:30])
            self.stdout.write(f"  {code}: {info['count']} 行（第 {rows} 行{' 等' if info['count'] > 30 else ''}）")
        if job.error_report:
            self.stdout.write(f"错误报告：{job.error_report.path}")

    def _org(self, ref: str) -> Org:
        org: Org | None = None
        if ref.isdigit() and len(ref) < 18:
            org = Org.objects.filter(pk=int(ref)).first()
        else:
            org = Org.objects.filter(uscc=uscc.normalize(ref)).first()
        if org is None:
            raise CommandError(f"找不到工会 {ref}（请填 id 或统一社会信用代码）。")
        return org

    def _result(self, job: ImportJob, summary: importing.Summary, dry_run: bool) -> dict[str, Any]:
        if dry_run:
            counts = summary.counts
            reasons = {code: {"count": len(rows), "rows": rows} for code, rows in sorted(summary.reasons.items())}
            return {
                "job": job.pk,
                "dry_run": True,
                "rows": summary.rows,
                "created": counts.get(importing.NEW, 0),
                "updated": counts.get(importing.UPDATE, 0),
                "transfers": counts.get(importing.TRANSFER, 0),
                "unchanged": counts.get(importing.UNCHANGED, 0),
                "rejected": counts.get(importing.REJECTED, 0),
                "reasons": reasons,
            }
        grouped: dict[str, list[int]] = {}
        for item in importing.error_report_rows(job):
            grouped.setdefault(item["code"], []).append(item["row"])
        return {
            "job": job.pk,
            "dry_run": False,
            "rows": job.total_rows,
            "created": job.created,
            "updated": job.updated,
            "transfers": job.transfers,
            "unchanged": job.unchanged,
            "rejected": job.rejected,
            "reasons": {code: {"count": len(rows), "rows": rows} for code, rows in sorted(grouped.items())},
        }
