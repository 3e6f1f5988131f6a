"""Proof that the coupon ledger adds up: part of ``manage.py check_ledgers``.

Like ``points.checks``: each check is one set-wise query returning the offending rows.
"""

from __future__ import annotations

from gonghui.core.sqlchecks import CheckReport, Checks, run_sql_checks
from gonghui.coupons.models import Coupon, CouponTemplate, Redemption

T, C, R = (m._meta.db_table for m in (CouponTemplate, Coupon, Redemption))

CHECKS: Checks = {
    "issued_is_count_of_coupons": (
        "券模板已发放数 ≠ 券张数",
        f"""SELECT t.id, t.issued, COUNT(c.id) AS coupons
            FROM {T} t LEFT JOIN {C} c ON c.template_id = t.id
            GROUP BY t.id, t.issued HAVING t.issued <> COUNT(c.id)""",  # noqa: S608 — table names from the models, no input
    ),
    "issued_within_quantity": (
        "券模板已发放数超过发行总量",
        f"""SELECT id, issued, quantity FROM {T} WHERE issued > quantity OR issued < 0""",  # noqa: S608 — table names from the models, no input
    ),
    "redeemed_at_most_once": (
        "同一张券有多条核销记录",
        f"""SELECT coupon_id, COUNT(*) AS n, 0 FROM {R} GROUP BY coupon_id HAVING COUNT(*) > 1""",  # noqa: S608 — table names from the models, no input
    ),
    "redeemed_status_has_its_redemption": (
        "已核销状态与核销记录不一致",
        f"""SELECT c.id, c.status, r.id AS redemption
            FROM {C} c LEFT JOIN {R} r ON r.coupon_id = c.id
            WHERE (c.status = 'redeemed') <> (r.id IS NOT NULL)""",  # noqa: S608 — table names from the models, no input
    ),
    "redemption_matches_its_coupon": (
        "核销记录的商户或时间与券不一致",
        f"""SELECT c.id, c.redeemed_by_merchant_id, r.merchant_id
            FROM {C} c JOIN {R} r ON r.coupon_id = c.id
            WHERE c.redeemed_by_merchant_id IS NULL OR c.redeemed_by_merchant_id <> r.merchant_id
               OR c.redeemed_at IS NULL OR c.redeemed_at <> r.at""",  # noqa: S608 — table names from the models, no input
    ),
}


def check_coupons(limit: int = 20) -> CheckReport:
    return run_sql_checks(CHECKS, {"templates": CouponTemplate, "coupons": Coupon, "redemptions": Redemption}, limit)
