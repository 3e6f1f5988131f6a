"""Each union's home page: branding, lineage, its own and its ancestors' notices."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from gonghui.conftest import Tree, make_org
from gonghui.members.models import Member
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import OrgLevel


def home(org_id: int) -> str:
    return reverse("portal:union_home", kwargs={"org_id": org_id})


def publish(org: Any, title: str) -> Any:
    return org_actions.publish_notice(actor=None, org=org, title=title, body=f"{title}的正文。")


def test_home_shows_own_and_ancestor_notices_but_not_a_sibling_unions(client: Client, tree: Tree) -> None:
    publish(tree.province, "全省职工技能大赛报名")
    publish(tree.tianhe, "天河区送清凉活动")
    publish(tree.tianhe_union, "软件园工会会员大会")
    publish(tree.nanshan, "南山区工会通知")
    publish(tree.nanshan_union, "南山科技工会团建")

    body = client.get(home(tree.tianhe_union.pk)).content.decode()

    assert "全省职工技能大赛报名" in body
    assert "天河区送清凉活动" in body
    assert "软件园工会会员大会" in body
    assert "南山区工会通知" not in body
    assert "南山科技工会团建" not in body


def test_a_union_does_not_see_notices_of_unions_below_it(client: Client, tree: Tree) -> None:
    publish(tree.tianhe_union, "只发给本单位的通知")

    body = client.get(home(tree.tianhe.pk)).content.decode()

    assert "只发给本单位的通知" not in body


def test_notices_link_to_the_publishing_union(client: Client, tree: Tree) -> None:
    notice = publish(tree.province, "省总通知")

    body = client.get(home(tree.tianhe_union.pk)).content.decode()

    assert reverse("portal:notice_detail", kwargs={"org_id": tree.province.pk, "notice_id": notice.pk}) in body


def test_home_shows_the_parent_chain_and_child_unions(client: Client, tree: Tree) -> None:
    body = client.get(home(tree.tianhe.pk)).content.decode()

    assert "<h1" in body
    assert "天河区总工会" in body
    for ancestor in (tree.province, tree.guangzhou):
        assert home(ancestor.pk) in body
    assert home(tree.tianhe_street.pk) in body  # the child union
    assert home(tree.nanshan.pk) not in body


def test_anyone_may_view_an_active_union(client: Client, tree: Tree) -> None:
    response = client.get(home(tree.nanshan_union.pk))

    assert response.status_code == 200
    assert "深圳南山科技有限公司工会" in response.content.decode()


def test_closed_union_is_404(client: Client, tree: Tree) -> None:
    org_actions.close_org(actor=None, org=tree.nanshan_union, reason="企业注销")

    assert client.get(home(tree.nanshan_union.pk)).status_code == 404
    assert client.get(reverse("portal:notice_list", kwargs={"org_id": tree.nanshan_union.pk})).status_code == 404


def test_unknown_union_is_404(client: Client, tree: Tree) -> None:
    assert client.get(home(999_999)).status_code == 404


def test_generated_banner_uses_the_theme_colour_and_intro(client: Client, tree: Tree) -> None:
    org_actions.update_org(
        actor=None, org=tree.tianhe_union, values={"theme_color": "#0b6e4f", "intro": "我们是软件园的职工之家。"}
    )

    body = client.get(home(tree.tianhe_union.pk)).content.decode()

    assert "--theme: #0b6e4f" in body
    assert "我们是软件园的职工之家。" in body
    assert "hero-art" in body


def test_a_malformed_theme_colour_never_reaches_the_style_attribute(client: Client, tree: Tree) -> None:
    tree.tianhe_union.theme_color = "red;x:y"
    tree.tianhe_union.save(update_fields=["theme_color"])

    body = client.get(home(tree.tianhe_union.pk)).content.decode()

    assert "red;x:y" not in body
    assert "--theme: #c8161d" in body


def test_many_child_unions_link_to_the_full_list(client: Client, tree: Tree) -> None:
    for n in range(14):
        make_org(tree.tianhe_street, OrgLevel.GRASSROOTS, f"石牌第{n}公司工会")

    body = client.get(home(tree.tianhe_street.pk)).content.decode()
    full = client.get(reverse("portal:union_children", kwargs={"org_id": tree.tianhe_street.pk}))

    assert reverse("portal:union_children", kwargs={"org_id": tree.tianhe_street.pk}) in body
    assert full.content.decode().count('class="org-row"') == 15


def test_home_page_query_count_is_bounded(client: Client, tree: Tree, django_assert_max_num_queries: Any) -> None:
    for n in range(20):
        publish(tree.province if n % 2 else tree.tianhe_union, f"通知{n}")
    with django_assert_max_num_queries(5):
        client.get(home(tree.tianhe_union.pk))


def test_root_redirects_a_member_to_their_union(client: Client, frank: Member) -> None:
    client.post(
        reverse("portal:login"), {"tab": "password", "username": "13900000006", "password": "correct-horse-battery"}
    )

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == home(frank.org_id)


def test_root_shows_the_landing_page_to_visitors(client: Client, tree: Tree) -> None:
    response = client.get("/")

    body = response.content.decode()
    assert response.status_code == 200
    assert reverse("portal:login") in body
    assert home(tree.province.pk) in body


def test_member_sees_their_own_union_marked(client: Client, frank: Member) -> None:
    client.force_login(frank.user)

    body = client.get(home(frank.org_id)).content.decode()

    assert "我的工会" in body


def test_uploaded_logo_and_banner_replace_the_generated_ones(
    client: Client, tree: Tree, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    org_actions.set_branding(actor=None, org=tree.tianhe_union, logo=png_upload("logo.png"), banner=png_upload("b.png"))
    tree.tianhe_union.refresh_from_db()

    body = client.get(home(tree.tianhe_union.pk)).content.decode()

    assert tree.tianhe_union.logo.url in body
    assert tree.tianhe_union.banner.url in body
    assert "hero-art" not in body
    assert "hero-monogram" not in body


def png_upload(name: str) -> SimpleUploadedFile:
    buffer = BytesIO()
    Image.new("RGB", (64, 32), "#0b6e4f").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")
