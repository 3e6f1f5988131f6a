"""商城报表 in a real browser, on a desktop and on a phone: eight goods with long Chinese
names and orders; the vendored ECharts draws two bar series (订单数, 消耗积分) whose legend
and axis names are Chinese, every goods name is on the category axis, and nothing is wider
than the screen.

Screenshots: docs/screenshots/mall-report-desktop.png and mall-report-phone.png.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.mall import actions
from gonghui.mall.tests.conftest import give, make_goods, verify
from gonghui.testing.browser import DESKTOP, PHONE, console_login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GOODS = (
    ("工会定制保温杯（500 毫升）", 300, 4),
    ("夏日防晒折叠伞", 180, 3),
    ("职工体检套餐升级券", 800, 1),
    ("电影票两张", 260, 2),
    ("劳模精神读本", 60, 5),
    ("环保帆布购物袋", 50, 2),
    ("家用急救包", 220, 1),
    ("工会纪念徽章", 30, 0),
)


def chart_option(page: Page) -> dict[str, Any]:
    """What ECharts really drew: the option it keeps, and the pixel width of the canvas."""
    page.wait_for_function("document.querySelector('#chart-goods canvas') !== null")
    return dict(
        page.evaluate(
            """() => {
              const chart = echarts.getInstanceByDom(document.getElementById('chart-goods'));
              const o = chart.getOption();
              return {
                legend: chart.getModel().getComponent('legend').getData().map(d => d.get('name')),
                series: o.series.map(s => ({name: s.name, type: s.type, data: s.data})),
                categories: o.yAxis[0].data,
                axisNames: o.xAxis.map(a => a.name),
                canvasWidth: document.querySelector('#chart-goods canvas').getBoundingClientRect().width,
                pageWidth: document.documentElement.scrollWidth,
                screenWidth: window.innerWidth,
              };
            }"""
        )
    )


def test_the_report_chart_reads_on_a_desktop_and_on_a_phone(
    live_server: Any, browser: Browser, tree: Tree, bob: User
) -> None:
    buyers = [verify(make_member(tree.tianhe_union, f"会员{i}")) for i in range(5)]
    for name, price, orders in GOODS:
        goods = make_goods(bob, tree.tianhe, name=name, price_points=price, stock=20, verified_only=False)
        for member in buyers[:orders]:
            give(member, price)
            actions.place_order(member=member, goods=goods, key=f"report:{goods.pk}:{member.pk}")
    orders_total = sum(n for _, _, n in GOODS)
    points_total = sum(p * n for _, p, n in GOODS)

    desk = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP)
    console_login(desk.new_page(), live_server.url, "bob", "correct-horse-battery", bob)
    signed_in = desk.storage_state()  # a TOTP code is good once: the phone reuses the session
    for name, options in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", storage_state=signed_in, **options)
        page = context.new_page()
        page.goto(f"{live_server.url}/console/mall/report/")
        expect(page.locator("#total-orders")).to_have_text(str(orders_total))
        expect(page.locator("#total-points")).to_have_text(f"{points_total:,}")
        drawn = chart_option(page)
        assert drawn["legend"] == ["订单数", "消耗积分"]
        assert [(s["name"], s["type"]) for s in drawn["series"]] == [("订单数", "bar"), ("消耗积分", "bar")]
        assert drawn["axisNames"] == ["订单数", "消耗积分"]
        assert sorted(drawn["categories"]) == sorted(n for n, _, _ in GOODS)
        assert sum(drawn["series"][0]["data"]) == orders_total
        assert sum(drawn["series"][1]["data"]) == points_total
        # The chart and the page fit the screen: no sideways scrolling of the whole page.
        assert drawn["canvasWidth"] <= drawn["screenWidth"]
        assert drawn["pageWidth"] <= drawn["screenWidth"], f"{name}: the page scrolls sideways"
        # Vendored: no request left the live server for a script.
        assert page.evaluate("Array.from(document.scripts).every(s => !s.src || s.src.startsWith(location.origin))")
        shot(page, f"mall-report-{name}")
        context.close()
