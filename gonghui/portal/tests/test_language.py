"""Switching the portal to English through Django's set_language view."""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django.urls import reverse

from gonghui.members.models import Member
from gonghui.orgs import actions as org_actions


def test_switching_to_english_sets_the_cookie_and_the_page_language(client: Client, frank: Member) -> None:
    client.force_login(frank.user)

    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("portal:me")})

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:me")
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    body = client.get(reverse("portal:me")).content.decode()
    assert '<html lang="en">' in body
    # Dates follow the language (Django's own English formats; the English catalogue of
    # our own strings is made separately).
    assert "May 1, 2020" in body  # the join date


def test_chinese_is_the_default(client: Client, frank: Member) -> None:
    client.force_login(frank.user)

    body = client.get(reverse("portal:me")).content.decode()

    assert '<html lang="zh-hans">' in body
    assert "会员信息" in body
    assert "2020年5月1日" in body


def test_every_portal_page_renders_in_english(client: Client, frank: Member) -> None:
    org = frank.org
    notice = org_actions.publish_notice(actor=None, org=org, title="会员大会", body="正文")
    client.force_login(frank.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    pages = [
        reverse("portal:union_home", kwargs={"org_id": org.pk}),
        reverse("portal:notice_list", kwargs={"org_id": org.pk}),
        reverse("portal:notice_detail", kwargs={"org_id": org.pk, "notice_id": notice.pk}),
        reverse("portal:union_children", kwargs={"org_id": org.pk}),
        reverse("portal:me"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert '<html lang="en">' in response.content.decode(), url
    client.post(reverse("portal:logout"))
    for url in ("/", reverse("portal:login")):
        assert '<html lang="en">' in client.get(url).content.decode(), url
