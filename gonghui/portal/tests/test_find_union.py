"""一键找到工会: the public finder searches active unions a worker can join."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from gonghui.conftest import Tree, make_org
from gonghui.core import uscc
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import OrgLevel
from gonghui.orgs.selectors import find_unions, suggest_for_region

pytestmark = pytest.mark.django_db

URL = reverse("portal:find_union")


def unit_code(body: str) -> str:
    return uscc.make("91440106" + body + uscc.org_code_check_char(body))


def names(q: str, region: str | None = None) -> list[str]:
    return [org.name for org in find_unions(q, region)]


def test_finds_by_name_fragment(tree: Tree) -> None:
    assert names("软件园") == ["广州天河软件园有限公司工会"]


def test_finds_by_unit_name(tree: Tree) -> None:
    org_actions.update_org(actor=None, org=tree.nanshan_union, values={"unit_name": "腾飞电子厂"})
    assert names("腾飞电子") == ["深圳南山科技有限公司工会"]


def test_finds_by_pinyin_initials(tree: Tree) -> None:
    # 广州天河软件园有限公司工会 → gzthrjyyxgsgh
    assert names("gzthrjy") == ["广州天河软件园有限公司工会"]


def test_finds_by_full_pinyin(tree: Tree) -> None:
    assert names("ruanjianyuan") == ["广州天河软件园有限公司工会"]


def test_finds_by_unit_uscc_in_any_spelling(tree: Tree) -> None:
    code = unit_code("44010120")
    org_actions.update_org(actor=None, org=tree.tianhe_union, values={"unit_uscc": code})
    assert names(code) == ["广州天河软件园有限公司工会"]
    # Pasted with spaces and lower case: normalised before the exact match.
    spaced = f" {code[:6]} {code[6:].lower()} "
    assert names(spaced) == ["广州天河软件园有限公司工会"]


def test_grassroots_first_then_name(tree: Tree) -> None:
    assert names("天河") == ["广州天河软件园有限公司工会", "天河区总工会", "天河区石牌街道总工会"]


def test_district_code_excludes_other_districts(tree: Tree) -> None:
    assert names("工会", "440106") == ["广州天河软件园有限公司工会", "天河区总工会", "天河区石牌街道总工会"]
    assert "深圳南山科技有限公司工会" not in names("工会", "440100")
    assert "深圳南山科技有限公司工会" in names("工会", "440000")


def test_region_alone_lists_its_unions_and_nothing_without_input(tree: Tree) -> None:
    assert names("", "440305") == ["深圳南山科技有限公司工会", "南山区总工会", "南山区粤海街道总工会"]
    assert names("") == []


def test_closed_unions_never_appear(tree: Tree) -> None:
    org_actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    assert names("软件园") == []
    assert "广州天河软件园有限公司工会" not in Client().get(URL, {"q": "软件园"}).content.decode()


def test_province_city_branch_and_group_levels_excluded(tree: Tree) -> None:
    make_org(tree.tianhe_union, OrgLevel.BRANCH, "广州天河软件园研发部分工会", region_code="440106")
    make_org(tree.tianhe_union, OrgLevel.GROUP, "广州天河软件园测试工会小组", region_code="440106")
    assert names("广州") == ["广州天河软件园有限公司工会"]


def test_suggestions_list_street_then_district_union(tree: Tree) -> None:
    assert [org.name for org in suggest_for_region("440106")] == ["天河区石牌街道总工会", "天河区总工会"]
    org_actions.close_org(actor=None, org=tree.tianhe_street, reason="区划调整")
    assert [org.name for org in suggest_for_region("440106")] == ["天河区总工会"]


def test_page_is_public_and_shows_level_parent_and_link(tree: Tree) -> None:
    org_actions.update_org(actor=None, org=tree.tianhe_union, values={"address": "天河区天河软件园建中路 6 号"})
    response = Client().get(URL, {"q": "gzthrjy"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "广州天河软件园有限公司工会" in html
    assert "基层工会" in html
    assert "天河区天河软件园建中路 6 号" in html
    assert "上级：天河区石牌街道总工会" in html
    assert reverse("portal:union_home", args=[tree.tianhe_union.pk]) in html
    assert 'hx-trigger="input changed delay:300ms"' in html


def test_region_selects_offer_only_regions_with_unions(tree: Tree) -> None:
    html = Client().get(URL, {"province": "440000", "city": "440100"}).content.decode()
    assert '<option value="440000" selected>广东省</option>' in html
    assert '<option value="440100" selected>广州市</option>' in html
    assert '<option value="440106">天河区</option>' in html
    assert "南山区</option>" not in html  # Shenzhen's districts wait until Shenzhen is picked
    assert "北京市" not in html


def test_choosing_a_district_offers_street_and_district_unions(tree: Tree) -> None:
    html = Client().get(URL, {"province": "440000", "city": "440100", "district": "440106"}).content.decode()
    panel = html.split("我的单位还没有工会", 1)[1]
    assert "一次入会、动态接转" in panel
    assert panel.index("天河区石牌街道总工会") < panel.index("天河区总工会")


def test_htmx_request_returns_only_results_fragment(tree: Tree) -> None:
    response = Client().get(URL, {"q": "gzthrjy"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "广州天河软件园有限公司工会" in html
    assert "<html" not in html
    assert 'id="find-q"' not in html
    assert "find-regions" not in html


def test_query_count_is_bounded(tree: Tree, django_assert_max_num_queries: object) -> None:
    for i in range(40):
        make_org(tree.tianhe_street, OrgLevel.GRASSROOTS, f"天河测试单位{i}工会", region_code="440106")
    client = Client()
    with django_assert_max_num_queries(5):  # type: ignore[operator]
        response = client.get(URL, {"q": "天河", "province": "440000", "city": "440100", "district": "440106"})
    assert response.content.decode().count('class="find-item"') == 30 + 2  # page + 2 suggestions


def test_street_narrows_to_that_street_unions_subtree(tree: Tree, client: Client) -> None:
    other_street = make_org(tree.tianhe, OrgLevel.STREET, "天河区猎德街道总工会", region_code="440106")
    make_org(other_street, OrgLevel.GRASSROOTS, "广州猎德食品有限公司工会", region_code="440106")
    assert [o.name for o in find_unions("有限公司", "440106", within=other_street)] == ["广州猎德食品有限公司工会"]
    page = client.get(URL, {"district": "440106", "street": other_street.pk, "q": "有限公司"}).content.decode()
    assert "广州猎德食品有限公司工会" in page
    assert "广州天河软件园有限公司工会" not in page
    # The street picker lists the district's street unions.
    assert f'<option value="{other_street.pk}" selected>' in page
    assert f'<option value="{tree.tianhe_street.pk}">' in page


def test_street_of_another_district_is_ignored(tree: Tree, client: Client) -> None:
    page = client.get(URL, {"district": "440106", "street": tree.nanshan_street.pk, "q": "有限公司"}).content.decode()
    # A street union outside the chosen district does not narrow (nor leak) anything.
    assert "广州天河软件园有限公司工会" in page
    assert "深圳南山科技有限公司工会" not in page


def test_new_employment_worker_is_offered_the_nearest_pool_union(tree: Tree, client: Client) -> None:
    city_pool = make_org(tree.guangzhou, OrgLevel.FEDERATION, "广州市新就业形态劳动者工会联合会", region_code="440100")
    org_actions.update_org(actor=None, org=city_pool, values={"is_pool_union": True})
    sz_pool = make_org(tree.shenzhen, OrgLevel.FEDERATION, "深圳市快递行业工会联合会", region_code="440300")
    org_actions.update_org(actor=None, org=sz_pool, values={"is_pool_union": True})

    page = client.get(URL, {"district": "440106", "group": "food_delivery"}).content.decode()
    assert "网约送餐员可以加入的工会" in page
    assert "广州市新就业形态劳动者工会联合会" in page
    assert "深圳市快递行业工会联合会" not in page
    # Workers with a fixed employer are not shown the pool section.
    assert "兜底工会" not in client.get(URL, {"district": "440106"}).content.decode()


def test_without_any_pool_union_the_worker_is_pointed_to_the_street(tree: Tree, client: Client) -> None:
    page = client.get(URL, {"district": "440106", "group": "courier"}).content.decode()
    assert "暂未登记新就业形态兜底工会" in page
    assert "天河区石牌街道总工会" in page
