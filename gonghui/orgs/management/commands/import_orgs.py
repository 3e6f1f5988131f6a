"""``manage.py import_orgs FILE``: create a union hierarchy from a spreadsheet (see orgs.importing)."""

from __future__ import annotations

import json
import unicodedata
from argparse import ArgumentParser, RawDescriptionHelpFormatter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gonghui.orgs import importing
from gonghui.orgs.models import OrgLevel


def _pad(text: str, width: int) -> str:
    return text + " " * (width - sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text))


COLUMN_HELP = "\n".join(
    f"  {_pad(c.label, 22)}也可写作：{'、'.join(a for a in c.aliases if not a.isascii()) or '—'}"
    for c in importing.COLUMNS
)


class Command(BaseCommand):
    help = (
        "从 xlsx 或 csv（UTF-8、UTF-8 BOM、GBK/GB18030 自动识别）导入工会组织。每行一个工会，行的顺序不限："
        "“上级工会”填名称或统一社会信用代码，可以是文件中的另一行，也可以是系统中已有的工会。"
        "默认全部成功才写入：任何一行有错，一行都不写入，并按行号列出每个错误；加 --partial 则写入正确的行。"
        " Imports unions from xlsx/csv; all-or-nothing unless --partial."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        parser.epilog = (
            "表头（必填：工会名称、层级；表头上方可以有标题行）：\n" + COLUMN_HELP + "\n\n"
            "日期可写 2020-01-02、2020/1/2、2020年1月2日、20200102，或 Excel 日期格式单元格。\n"
            "退出码：全部导入（或 --dry-run 检查通过）为 0，有任何错误为 1。"
        )
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="xlsx 或 csv 文件")
        parser.add_argument("--dry-run", action="store_true", help="只检查、不写入（检查包括在事务中试建再回滚）")
        parser.add_argument(
            "--partial", action="store_true", help="写入正确的行，列出其余的行（默认：有错就全部不写入）"
        )
        parser.add_argument("--json", action="store_true", help="只输出一个 JSON 汇总对象")

    def handle(self, *args: Any, **options: Any) -> None:
        report = importing.import_orgs(options["file"], dry_run=options["dry_run"], partial=options["partial"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self._print(report)
        if report.errors:
            raise CommandError(f"{len(report.errors)} 个错误。{len(report.errors)} error(s).")

    def _print(self, report: importing.ImportReport) -> None:
        source = report.format.upper() + (f"，编码 {report.encoding.upper()}" if report.encoding else "")
        self.stdout.write(f"读取 {report.file}（{source}）：{report.rows} 行数据。" if report.format else report.file)
        for line in importing.iter_error_lines(report):
            self.stdout.write(self.style.ERROR(line))
        levels = "，".join(f"{OrgLevel(level).label} {n}" for level, n in sorted(report.by_level.items()))
        if report.committed:
            rejected = f"；{len({e.row for e in report.errors})} 行未导入" if report.errors else ""
            self.stdout.write(self.style.SUCCESS(f"已导入 {report.created} 个工会组织（{levels}）{rejected}。"))
        elif report.dry_run and not report.errors:
            self.stdout.write(
                self.style.SUCCESS(f"检查通过：可以导入 {report.valid} 个工会组织（{levels}）；--dry-run 未写入。")
            )
        elif report.dry_run:
            rejected_rows = len({e.row for e in report.errors})
            self.stdout.write(
                self.style.ERROR(f"检查完成：{report.valid} 行可以导入，{rejected_rows} 行有错；--dry-run 未写入。")
            )
        elif report.errors:
            how = "" if report.partial else "（默认全部成功才写入；改正后重新导入，或加 --partial 只导入正确的行）"
            self.stdout.write(self.style.ERROR(f"没有写入任何工会组织{how}。"))
