"""门户形象: a union's logo, banner, colour and introduction, edited with a live preview."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from gonghui.conftest import Tree, console_client
from gonghui.core.models import AuditEvent, User
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Org


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def png(name: str = "logo.png", size: tuple[int, int] = (240, 240), color: str = "#1552c6") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def url(org: Org) -> str:
    return f"/console/orgs/{org.pk}/branding/"


def save(client: Client, org: Org, **fields: Any) -> Any:
    data = {"theme_color": org.theme_color, "intro": org.intro, **fields}
    return client.post(url(org), data)


def test_the_page_shows_the_form_and_a_preview_of_the_portal_header(bob_client: Client, tree: Tree) -> None:
    org_actions.update_org(actor=None, org=tree.tianhe_union, values={"theme_color": "#0e7a4d", "intro": "服务职工"})

    response = bob_client.get(url(tree.tianhe_union))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'type="color"' in body and 'value="#0e7a4d"' in body
    assert 'id="pv-hero"' in body and "--theme: #0e7a4d" in body
    assert "--on-theme: #ffffff" in body
    assert "广州天河软件园有限公司工会" in body and "服务职工" in body
    # No logo yet: the preview shows the monogram, as the portal does.
    assert 'id="pv-monogram" aria-hidden="true">广<' in body


def test_uploading_a_real_png_sets_the_logo(bob_client: Client, bob: User, tree: Tree, media_root: Path) -> None:
    response = save(bob_client, tree.tianhe_union, logo=png())

    assert response.status_code == 302
    assert response["Location"] == url(tree.tianhe_union)
    org = Org.objects.get(pk=tree.tianhe_union.pk)
    assert org.logo.name.startswith("orgs/logo/")
    stored = media_root / org.logo.name
    assert stored.exists()
    with Image.open(stored) as image:
        assert image.size == (240, 240)
    event = AuditEvent.objects.get(action="org.branding")
    assert (event.actor_id, event.object_id, event.details) == (bob.pk, str(org.pk), {"fields": ["logo"]})

    page = bob_client.get(url(org)).content.decode()
    assert f'src="{org.logo.url}"' in page
    assert "已保存" in page


def test_uploading_a_banner_replaces_the_art_in_the_preview(bob_client: Client, tree: Tree) -> None:
    save(bob_client, tree.tianhe_union, banner=png("banner.png", (1200, 400)))

    org = Org.objects.get(pk=tree.tianhe_union.pk)
    assert org.banner.name.startswith("orgs/banner/")
    page = bob_client.get(url(org)).content.decode()
    assert 'class="pv-hero has-image"' in page
    assert f'src="{org.banner.url}"' in page


def test_a_file_over_two_megabytes_is_refused_on_its_field(bob_client: Client, tree: Tree, media_root: Path) -> None:
    huge = SimpleUploadedFile("huge.png", b"\x89PNG" + b"0" * (2 * 1024 * 1024), content_type="image/png")

    response = save(bob_client, tree.tianhe_union, logo=huge)

    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["logo"] == ["标志不能超过 2 MB。"]
    assert not Org.objects.get(pk=tree.tianhe_union.pk).logo
    assert not AuditEvent.objects.filter(action="org.branding").exists()
    assert not list(media_root.rglob("*.png"))


def test_a_text_file_is_refused(bob_client: Client, tree: Tree) -> None:
    text = SimpleUploadedFile("notes.txt", "不是图片".encode(), content_type="text/plain")

    response = save(bob_client, tree.tianhe_union, banner=text)

    assert response.status_code == 400
    assert response.context["form"].errors["banner"] == ["横幅只能是 PNG、JPEG 或 WebP 图片。"]
    assert not Org.objects.get(pk=tree.tianhe_union.pk).banner


def test_a_file_that_only_claims_to_be_a_png_is_refused(bob_client: Client, tree: Tree) -> None:
    fake = SimpleUploadedFile("logo.png", b"<?php echo 'hi'; ?>", content_type="image/png")

    response = save(bob_client, tree.tianhe_union, logo=fake)

    assert response.status_code == 400
    assert response.context["form"].errors["logo"] == ["标志不是有效的图片文件。"]


def test_clearing_the_logo_brings_back_the_monogram(bob_client: Client, tree: Tree) -> None:
    save(bob_client, tree.tianhe_union, logo=png())
    assert Org.objects.get(pk=tree.tianhe_union.pk).logo

    response = save(bob_client, tree.tianhe_union, clear_logo="on")

    assert response.status_code == 302
    org = Org.objects.get(pk=tree.tianhe_union.pk)
    assert not org.logo
    assert AuditEvent.objects.filter(action="org.branding", details__fields=["logo"]).count() == 2
    page = bob_client.get(url(org)).content.decode()
    assert 'id="pv-logo" src=""' in page


def test_colour_and_introduction_are_saved_through_update_org(bob_client: Client, tree: Tree) -> None:
    response = save(bob_client, tree.tianhe_union, theme_color="#1552C6", intro="  天河软件园职工之家  ")

    assert response.status_code == 302
    org = Org.objects.get(pk=tree.tianhe_union.pk)
    assert (org.theme_color, org.intro) == ("#1552c6", "天河软件园职工之家")
    event = AuditEvent.objects.get(action="org.update")
    assert event.details["changes"]["theme_color"] == ["#c8161d", "#1552c6"]


def test_a_bad_colour_is_refused(bob_client: Client, tree: Tree) -> None:
    response = save(bob_client, tree.tianhe_union, theme_color="red;background:url(x)")

    assert response.status_code == 400
    assert response.context["form"].errors["theme_color"] == ["主题色应为 #RRGGBB 形式的颜色值。"]
    assert Org.objects.get(pk=tree.tianhe_union.pk).theme_color == "#c8161d"


def test_a_rejected_image_keeps_the_colour_change_out_too(bob_client: Client, tree: Tree) -> None:
    """One save is one change: a refused banner does not leave a half-applied colour behind."""
    text = SimpleUploadedFile("x.txt", b"hello", content_type="text/plain")

    response = save(bob_client, tree.tianhe_union, theme_color="#6b3fb8", banner=text)

    assert response.status_code == 400
    assert Org.objects.get(pk=tree.tianhe_union.pk).theme_color == "#c8161d"
    assert not AuditEvent.objects.filter(action="org.update").exists()
    # The preview still shows the colour just chosen, so the cadre need not pick it again.
    assert "--theme: #6b3fb8" in response.content.decode()


def test_the_org_page_links_to_branding_for_those_who_may_change_it(bob_client: Client, erin: User, tree: Tree) -> None:
    assert url(tree.tianhe_union) in bob_client.get(f"/console/orgs/{tree.tianhe_union.pk}/").content.decode()

    auditor = console_client(erin)
    assert url(tree.tianhe_union) not in auditor.get(f"/console/orgs/{tree.tianhe_union.pk}/").content.decode()
    assert auditor.get(url(tree.tianhe_union)).status_code == 404


def test_a_closed_union_is_read_only(alice: User, tree: Tree) -> None:
    org_actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    client = console_client(alice)

    response = save(client, tree.tianhe_union, logo=png())

    assert response.status_code == 400
    assert "该组织已撤销" in response.content.decode()
    assert not Org.objects.get(pk=tree.tianhe_union.pk).logo


def test_a_bad_logo_and_a_bad_banner_are_both_reported_and_a_good_one_is_not_kept(
    bob_client: Client, tree: Tree
) -> None:
    text = SimpleUploadedFile("x.txt", b"hello", content_type="text/plain")
    huge = SimpleUploadedFile("huge.png", b"0" * (2 * 1024 * 1024 + 1), content_type="image/png")

    both_bad = save(bob_client, tree.tianhe_union, logo=text, banner=huge)
    errors = both_bad.context["form"].errors
    assert errors["logo"] == ["标志只能是 PNG、JPEG 或 WebP 图片。"]
    assert errors["banner"] == ["横幅不能超过 2 MB。"]
    assert errors["__all__"] == ["本次修改均未保存。请修正标红的项目；已选择的图片需要重新选择。"]

    huge.seek(0)
    one_bad = save(bob_client, tree.tianhe_union, logo=png(), banner=huge)
    assert one_bad.status_code == 400
    assert sorted(one_bad.context["form"].errors) == ["__all__", "banner"]
    assert not Org.objects.get(pk=tree.tianhe_union.pk).logo
    assert not AuditEvent.objects.filter(action="org.branding").exists()
