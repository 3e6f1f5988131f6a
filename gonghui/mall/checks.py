"""Proof that the mall and the points ledger agree: what ``manage.py check_ledgers`` adds.

Each check is one set-wise query returning the offending rows (empty when all is right).
"""

from __future__ import annotations

from gonghui.core.sqlchecks import CheckReport, Checks, run_sql_checks
from gonghui.mall.models import Goods, Order, VirtualCode
from gonghui.points.models import Entry

G, ORD, V, E = (m._meta.db_table for m in (Goods, Order, VirtualCode, Entry))

CHECKS: Checks = {
    "sold_is_live_orders": (
        "商品已兑换数 ≠ 未取消订单的数量合计",
        f"""SELECT g.id, g.sold, COALESCE(SUM(o.quantity), 0) AS live
            FROM {G} g LEFT JOIN {ORD} o ON o.goods_id = g.id AND o.status <> 'cancelled'
            GROUP BY g.id, g.sold HAVING g.sold <> COALESCE(SUM(o.quantity), 0)""",  # noqa: S608 — table names from the models, no input
    ),
    "sold_within_stock": (
        "商品已兑换数超过库存",
        f"SELECT id, sold, stock FROM {G} WHERE sold > stock OR sold < 0",  # noqa: S608 — table names from the models, no input
    ),
    "order_points_are_its_spend": (
        "订单积分 ≠ 其积分消费明细",
        f"""SELECT o.id, o.points, e.amount
            FROM {ORD} o LEFT JOIN {E} e ON e.id = o.spend_entry_id
            WHERE e.id IS NULL OR e.amount <> -o.points OR e.kind <> 'spend'""",  # noqa: S608 — table names from the models, no input
    ),
    "cancelled_orders_refunded_once": (
        "已取消订单未退回积分，或退回不等于消费",
        f"""SELECT o.id, o.points, COALESCE(SUM(r.amount), 0) AS refunded
            FROM {ORD} o LEFT JOIN {E} r ON r.reverses_id = o.spend_entry_id
            WHERE o.status = 'cancelled'
            GROUP BY o.id, o.points, o.refund_entry_id
            HAVING COALESCE(SUM(r.amount), 0) <> o.points OR o.refund_entry_id IS NULL""",  # noqa: S608 — table names from the models, no input
    ),
    "live_orders_not_refunded": (
        "未取消的订单被退回了积分",
        f"""SELECT o.id, o.status, r.id
            FROM {ORD} o JOIN {E} r ON r.reverses_id = o.spend_entry_id
            WHERE o.status <> 'cancelled'""",  # noqa: S608 — table names from the models, no input
    ),
    "virtual_orders_have_their_codes": (
        "虚拟商品订单的卡密数 ≠ 订单数量",
        f"""SELECT o.id, o.quantity, COUNT(v.id) AS codes
            FROM {ORD} o JOIN {G} g ON g.id = o.goods_id
            LEFT JOIN {V} v ON v.order_id = o.id
            WHERE g.kind = 'virtual_code' AND o.status <> 'cancelled'
            GROUP BY o.id, o.quantity HAVING COUNT(v.id) <> o.quantity""",  # noqa: S608 — table names from the models, no input
    ),
}


def check_mall(limit: int = 20) -> CheckReport:
    return run_sql_checks(CHECKS, {"goods": Goods, "orders": Order}, limit)
