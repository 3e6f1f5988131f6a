"""Proof that the points ledger sums: what ``manage.py check_ledgers`` runs.

Each check is one set-wise query over the whole ledger (no per-account loop), so it runs
at province scale; each returns the offending rows (empty when the ledger is right).
"""

from __future__ import annotations

from gonghui.core.sqlchecks import CheckReport, Checks, run_sql_checks
from gonghui.points.models import Account, Entry, Lot, LotUse

A, E, L, U = (m._meta.db_table for m in (Account, Entry, Lot, LotUse))

CHECKS: Checks = {
    "balance_is_sum_of_entries": (
        "账户余额 ≠ 明细合计",
        f"""SELECT a.id, a.balance, COALESCE(SUM(e.amount), 0) AS entries
            FROM {A} a LEFT JOIN {E} e ON e.account_id = a.id
            GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0)""",  # noqa: S608 — table names from the models, no input
    ),
    "balance_is_sum_of_lots": (
        "账户余额 ≠ 各批次剩余合计",
        f"""SELECT a.id, a.balance, COALESCE(SUM(l.remaining), 0) AS lots
            FROM {A} a LEFT JOIN {L} l ON l.account_id = a.id
            GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(l.remaining), 0)""",  # noqa: S608 — table names from the models, no input
    ),
    "earned_total_is_sum_of_earnings": (
        "累计获得 ≠ 获得明细合计",
        f"""SELECT a.id, a.earned_total, COALESCE(SUM(e.amount), 0) AS earned
            FROM {A} a LEFT JOIN {E} e ON e.account_id = a.id AND e.kind = 'earn'
            GROUP BY a.id, a.earned_total HAVING a.earned_total <> COALESCE(SUM(e.amount), 0)""",  # noqa: S608 — table names from the models, no input
    ),
    "lot_remaining_is_amount_minus_uses": (
        "批次剩余 ≠ 批次数额 − 使用合计",
        f"""SELECT l.id, l.amount, l.remaining, COALESCE(SUM(u.amount), 0) AS used
            FROM {L} l LEFT JOIN {U} u ON u.lot_id = l.id
            GROUP BY l.id, l.amount, l.remaining HAVING l.remaining <> l.amount - COALESCE(SUM(u.amount), 0)""",  # noqa: S608 — table names from the models, no input
    ),
    "entry_matches_its_lot_uses": (
        "消费/过期/扣减明细 ≠ 其批次使用合计",
        f"""SELECT e.id, e.amount, COALESCE(SUM(u.amount), 0) AS uses
            FROM {E} e LEFT JOIN {U} u ON u.entry_id = e.id
            WHERE e.amount < 0 OR e.kind = 'refund'
            GROUP BY e.id, e.amount HAVING e.amount <> -COALESCE(SUM(u.amount), 0)""",  # noqa: S608 — table names from the models, no input
    ),
    "credit_has_its_lot": (
        "获得/发放明细没有对应批次",
        f"""SELECT e.id, e.amount, l.amount AS lot
            FROM {E} e LEFT JOIN {L} l ON l.entry_id = e.id
            WHERE e.kind IN ('earn', 'adjust') AND e.amount > 0 AND (l.id IS NULL OR l.amount <> e.amount)""",  # noqa: S608 — table names from the models, no input
    ),
    "balance_after_follows_the_chain": (
        "明细的变动后余额与前后明细不连续",
        f"""SELECT id, balance_after, running FROM (
                SELECT id, balance_after,
                       SUM(amount) OVER (PARTITION BY account_id ORDER BY id ROWS UNBOUNDED PRECEDING) AS running
                FROM {E}) chain
            WHERE balance_after <> running""",  # noqa: S608 — table names from the models, no input
    ),
    "never_negative": (
        "出现负数余额或负数批次",
        f"""SELECT id, balance, 0 FROM {A} WHERE balance < 0
            UNION ALL SELECT id, remaining, 1 FROM {L} WHERE remaining < 0""",  # noqa: S608 — table names from the models, no input
    ),
    "refunds_within_their_spend": (
        "退回超过原消费",
        f"""SELECT s.id, s.amount, SUM(r.amount) AS refunded
            FROM {E} s JOIN {E} r ON r.reverses_id = s.id
            GROUP BY s.id, s.amount HAVING SUM(r.amount) > -s.amount""",  # noqa: S608 — table names from the models, no input
    ),
}


def check_points(limit: int = 20) -> CheckReport:
    return run_sql_checks(CHECKS, {"accounts": Account, "entries": Entry}, limit)
