"""Load run of the points hot paths over HTTP: earning (daily sign-in) and a mall flash sale.

    apt-get install wrk            # the load generator (C, keep-alive, HdrHistogram latencies)
    .venv/bin/python bench/points.py                     # 100,000 members; 1,000 items to 50,000 of them
    .venv/bin/python bench/points.py --members 2000 --sale-members 2000 --stock 100   # a quick look
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/gonghui_bench_points \\
        .venv/bin/python bench/points.py --json /tmp/points.json --keep

What it does, in one scratch database (``gonghui_bench_points``, or ``BENCH_DATABASE_URL``;
dropped at the end unless ``--keep``), with the rig of ``httpload.py`` (the same as
``activity_load.py``):

1. seeds ``--members`` members under 广州市 (``members.seeding``), gives every member an
   account and a logged-in session (COPY), serves the platform with granian
   (``--workers`` × ``--threads``; ``--server gunicorn``) with production settings
   (DEBUG off, Redis cache on database 8, ``cached_db`` sessions) on 127.0.0.1;
2. floor: ``GET /healthz`` — a bare Django view behind the same middleware, same server,
   same connections — for ``--floor-seconds``;
3. earning: the city union's sign-in rule pays ``--signin-points`` (``points.rules.set_rule``);
   every member signs in through ``POST /api/v1/me/points/sign-in`` with an
   ``Idempotency-Key``, and every sign-in is sent twice (the retry carries the same key),
   all shuffled; checks: one 201 per member, the retries answered 200 (replayed) or 409
   (already signed in), exactly one sign-in, one ledger entry and a balance of
   ``--signin-points`` per member, ``check_ledgers`` passes;
4. flash sale: the city union puts a pickup goods on sale, ``--stock`` items at ``--price``
   points, one per member; ``--sale-members`` members (a random sample) are first given
   ``--price`` points each (``points.ledger.earn``, before the clock starts), then each
   POSTs one order to ``POST /api/v1/mall/orders`` with their own ``Idempotency-Key``;
   checks: exactly ``--stock`` orders (201) and the rest ``409``, nobody twice, stock
   left 0 and never negative, no negative balance, points debited exactly
   ``--stock`` × ``--price`` (order spends and the sum of all balances agree),
   ``check_ledgers`` passes.

Throughput (first request to last answer), p50/p99 latency (wrk's corrected
HdrHistogram) and the ratio of each endpoint to the floor are printed as JSON
(``--json FILE`` writes them too). ``--skip earning`` / ``--skip sale`` leaves a part out.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpload import add_rig_arguments, entry, rig

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gonghui_bench_points"
REDIS_URL = "redis://127.0.0.1:6379/8"  # not activity_load's 7: the two may run side by side
SIGN_IN = "/api/v1/me/points/sign-in"
ORDER = "/api/v1/mall/orders"
SHUFFLE_SEED = 20261123


# --- set-up through the domain actions -------------------------------------------------


def city_and_admin() -> tuple[Any, Any]:
    """广州市 (every seeded member is under it) and the demo province admin."""
    from gonghui.core.models import User
    from gonghui.members import seeding
    from gonghui.orgs.models import Org

    city = Org.objects.get(region_code=seeding.GUANGZHOU, level="city")
    actor = User.objects.filter(org_roles__org__depth=1).first()
    return city, actor


def open_signin_rule(points: int) -> None:
    """The city union's own sign-in rule (nearer than the province's demo rule, so it
    wins), without a streak bonus: every first sign-in pays exactly ``points``."""
    from gonghui.points import rules

    city, actor = city_and_admin()
    rules.set_rule(actor=actor, org=city, kind="signin", values={"points": points})


def open_sale(stock: int, price: int) -> int:
    """A pickup goods of the city union on sale now: ``stock`` items, one per member."""
    from gonghui.mall import actions
    from gonghui.mall.models import GoodsKind, GoodsStatus

    city, actor = city_and_admin()
    goods = actions.create_goods(
        actor=actor,
        org=city,
        values={
            "name": "职工电影票（秒杀压测）",
            "kind": GoodsKind.PICKUP,
            "price_points": price,
            "per_member_limit": 1,
            "verified_only": False,  # seeded members have not verified their real name
            "pickup_place": "市总工会服务大厅",
        },
        stock=stock,
    )
    actions.set_status(actor=actor, goods=goods, status=GoodsStatus.ON_SALE)
    return int(goods.pk)


def grant_points(member_ids: list[int], amount: int) -> dict[str, Any]:
    """``amount`` points for each member through the ledger itself (``earn``: entry, lot and
    balance under the account lock), one transaction per member, before the clock starts."""
    from gonghui.members.models import Member
    from gonghui.points import ledger
    from gonghui.points.models import SourceType

    started = time.perf_counter()
    wanted = set(member_ids)
    step = max(1, len(wanted) // 10)
    done = 0
    for member in Member.objects.only("pk", "org_path").order_by("pk").iterator(chunk_size=2000):
        if member.pk not in wanted:
            continue
        ledger.earn(
            member=member,
            amount=amount,
            key=f"bench:sale-grant:{member.pk}",
            source_type=SourceType.GRANT,
            reason="秒杀压测发放",
        )
        done += 1
        if done % step == 0:
            print(f"  granted {done:>7,} / {len(wanted):,}", file=sys.stderr)
    seconds = time.perf_counter() - started
    return {"members": done, "points_each": amount, "seconds": round(seconds, 1)}


# --- checks ----------------------------------------------------------------------------


def check_ledgers() -> dict[str, Any]:
    """``manage.py check_ledgers`` (points, coupons, mall): ok, or the failures it reports."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("check_ledgers", json=True, stdout=out)
    except (CommandError, SystemExit) as exc:
        return {"ok": False, "error": str(exc), "report": out.getvalue()[-2000:]}
    body: dict[str, Any] = json.loads(out.getvalue())
    return {"ok": bool(body.get("ok"))}


def check_earning(points: int) -> dict[str, Any]:
    """Per bench member: one sign-in, one ledger entry, a balance of ``points``."""
    from django.db.models import Count

    from gonghui.points.models import Account, Entry, SignIn, SourceType

    bench = {"member__user__username__startswith": "bench-m"}
    accounts = Account.objects.filter(**bench)
    entries = Entry.objects.filter(account__in=accounts)
    return {
        "sign_ins": SignIn.objects.filter(**bench).count(),
        "accounts": accounts.count(),
        "entries": entries.count(),
        "sign_in_entries": entries.filter(source_type=SourceType.RULE, source_id__startswith="signin:").count(),
        "members_twice": entries.values("account_id").annotate(n=Count("id")).filter(n__gt=1).count(),
        "wrong_balance": accounts.exclude(balance=points).count(),
        "ledgers": check_ledgers(),
    }


def total_balance() -> int:
    from django.db.models import Sum

    from gonghui.points.models import Account

    return int(Account.objects.aggregate(n=Sum("balance"))["n"] or 0)


def check_sale(goods_id: int, balance_before: int) -> dict[str, Any]:
    from django.db.models import Count, Sum

    from gonghui.mall.models import Goods, Order
    from gonghui.points.models import Account

    goods = Goods.objects.get(pk=goods_id)
    orders = Order.objects.filter(goods_id=goods_id)
    return {
        "orders": orders.count(),
        "members_twice": orders.values("member_id").annotate(n=Count("id")).filter(n__gt=1).count(),
        "sold": goods.sold,
        "remaining": goods.stock - goods.sold,
        "negative_balances": Account.objects.filter(balance__lt=0).count(),
        "points_spent": -int(orders.aggregate(n=Sum("spend_entry__amount"))["n"] or 0),
        "balances_down_by": balance_before - total_balance(),
        "ledgers": check_ledgers(),
    }


# --- main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000, help="members seeded; every one signs in")
    parser.add_argument("--sale-members", type=int, default=50_000, help="members who each order once")
    parser.add_argument("--stock", type=int, default=1_000, help="items in the flash sale")
    parser.add_argument("--price", type=int, default=10, help="points per item")
    parser.add_argument(
        "--signin-points",
        type=int,
        default=10,
        help="points the city's sign-in rule pays (≤ 100, the demo province's overall daily cap)",
    )
    parser.add_argument("--skip", choices=["earning", "sale"], action="append", default=[])
    add_rig_arguments(parser)
    args = parser.parse_args()
    if args.sale_members > args.members:
        parser.error("--sale-members cannot exceed --members")
    if min(args.stock, args.price, args.signin_points) < 1:
        parser.error("--stock, --price and --signin-points must be at least 1")
    if "sale" not in args.skip and args.stock >= args.sale_members:
        parser.error("a flash sale has fewer items than buyers: --stock must be below --sale-members")

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    rng = random.Random(SHUFFLE_SEED)
    with rig(args, url=url, redis_url=REDIS_URL, seed_value=SHUFFLE_SEED, prefix="gonghui-points-") as bench:
        report, sessions = bench.report, bench.sessions

        if "earning" not in args.skip:
            open_signin_rule(args.signin_points)
            entries = [entry(key, SIGN_IN, "{}", f"bench-signin-{member_id}") for member_id, key in sessions]
            entries += entries  # the retry: same session, same Idempotency-Key
            rng.shuffle(entries)
            result = bench.replay(entries, "earning")
            checks = check_earning(args.signin_points)
            members, status = len(sessions), result["status"]
            checks["ok"] = (
                status.get("201", 0) == members
                and status.get("200", 0) + status.get("409", 0) == members
                and checks["sign_ins"] == checks["accounts"] == checks["entries"] == members
                and checks["sign_in_entries"] == members
                and checks["members_twice"] == 0
                and checks["wrong_balance"] == 0
                and checks["ledgers"]["ok"]
            )
            result["checks"] = checks
            report["earning"] = result
            print(f"  earning: {result['requests_per_s']:,} req/s, checks {checks}", file=sys.stderr)

        if "sale" not in args.skip:
            buyers = rng.sample(sessions, min(args.sale_members, len(sessions)))
            goods_id = open_sale(args.stock, args.price)
            grant = grant_points([member_id for member_id, _key in buyers], args.price)
            balance_before = total_balance()
            body = json.dumps({"goods_id": goods_id})
            entries = [entry(key, ORDER, body, f"bench-order-{member_id}") for member_id, key in buyers]
            result = bench.replay(entries, "sale")
            result["grant"] = grant
            checks = check_sale(goods_id, balance_before)
            status = result["status"]
            debit = args.stock * args.price
            checks["ok"] = (
                status.get("201", 0) == args.stock
                and status.get("409", 0) == len(buyers) - args.stock
                and checks["orders"] == checks["sold"] == args.stock
                and checks["members_twice"] == 0
                and checks["remaining"] == 0
                and checks["negative_balances"] == 0
                and checks["points_spent"] == checks["balances_down_by"] == debit
                and checks["ledgers"]["ok"]
            )
            result["checks"] = checks
            report["sale"] = result
            print(f"  sale: {result['requests_per_s']:,} req/s, checks {checks}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
