"""Console 入会审批: the scoped queue, filters, approve, bulk approve, reject with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gonghui.conftest import Tree, console_client, new_id_number
from gonghui.core import pii
from gonghui.core.models import AuditEvent, User
from gonghui.members import joining
from gonghui.members.models import Application, ApplicationStatus, Member
from gonghui.orgs.models import Org

_mobiles = iter(range(13733330000, 13733339999))


def submit(org: Org, name: str, *, id_number: str | None = None, group: str = "") -> Application:
    mobile = str(next(_mobiles))
    user = User.objects.create_user(mobile, mobile=mobile)
    data = joining.ApplicationInput(
        name=name,
        id_number=id_number or new_id_number(org.region_code or "440106"),
        mobile=mobile,
        workplace="某单位",
        new_employment_group=group,
    )
    return joining.apply_for_membership(user, org, data, consent=True)


@pytest.fixture
def queue(tree: Tree) -> dict[str, Application]:
    return {
        "tianhe": submit(tree.tianhe_union, "王申请", group="courier"),
        "street": submit(tree.tianhe_street, "赵申请"),
        "nanshan": submit(tree.nanshan_union, "李申请"),
    }


def test_the_queue_lists_pending_applications_of_the_subtree_only(
    queue: dict[str, Application], bob_client: Client
) -> None:
    body = bob_client.get(reverse("console:applications")).content.decode()
    assert "王申请" in body and "赵申请" in body
    assert "李申请" not in body
    assert queue["tianhe"].id_number_masked in body
    assert pii.decrypt(queue["tianhe"].id_number_enc) not in body


def test_another_districts_application_is_a_404_everywhere(
    queue: dict[str, Application], charlie_client: Client
) -> None:
    app = queue["tianhe"]
    for name in ("console:application_detail", "console:application_approve", "console:application_reject"):
        url = reverse(name, args=[app.pk])
        response = charlie_client.post(url, {"reason": "x"}) if "detail" not in name else charlie_client.get(url)
        assert response.status_code == 404, name
    response = charlie_client.post(reverse("console:application_bulk_approve"), {"ids": [app.pk]})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == ApplicationStatus.PENDING
    assert not Member.objects.exists()
    body = charlie_client.get(reverse("console:applications"), {"org": app.org_id}).content.decode()
    assert "王申请" not in body


def test_filters_by_group_name_and_union(queue: dict[str, Application], bob_client: Client, tree: Tree) -> None:
    body = bob_client.get(reverse("console:applications"), {"group": "courier"}).content.decode()
    assert "王申请" in body and "赵申请" not in body
    body = bob_client.get(reverse("console:applications"), {"q": "赵"}).content.decode()
    assert "赵申请" in body and "王申请" not in body
    body = bob_client.get(reverse("console:applications"), {"org": tree.tianhe_union.pk}).content.decode()
    assert "王申请" in body and "赵申请" not in body
    body = bob_client.get(reverse("console:applications"), {"since": "2000-01-01", "until": "2000-01-02"}).content
    assert "王申请" not in body.decode()


def test_detail_shows_masked_data_and_consent(queue: dict[str, Application], bob_client: Client) -> None:
    app = queue["tianhe"]
    body = bob_client.get(reverse("console:application_detail", args=[app.pk])).content.decode()
    assert app.id_number_masked in body and joining.CONSENT_VERSION in body
    assert pii.decrypt(app.id_number_enc) not in body
    assert app.mobile not in body


def test_approve_from_the_detail_page(queue: dict[str, Application], dave: User) -> None:
    client = console_client(dave)
    app = queue["tianhe"]
    response = client.post(reverse("console:application_approve", args=[app.pk]), follow=True)
    member = Member.objects.get()
    assert member.card_number and member.card_number in response.content.decode()
    app.refresh_from_db()
    assert app.status == ApplicationStatus.APPROVED and app.decided_by == dave
    # A second click finds it decided: no second member.
    response = client.post(reverse("console:application_approve", args=[app.pk]), follow=True)
    assert "已处理" in response.content.decode()
    assert Member.objects.count() == 1


def test_reject_needs_a_reason(queue: dict[str, Application], bob_client: Client) -> None:
    app = queue["street"]
    url = reverse("console:application_reject", args=[app.pk])
    response = bob_client.post(url, {"reason": "  "})
    assert response.status_code == 400
    assert "请填写不予通过的原因" in response.content.decode()
    response = bob_client.post(url, {"reason": "请到所在单位工会申请"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == ApplicationStatus.REJECTED and app.reject_reason == "请到所在单位工会申请"
    assert AuditEvent.objects.filter(action="application.reject", object_id=str(app.pk)).exists()


def test_bulk_approve_the_checked_ones(queue: dict[str, Application], bob_client: Client) -> None:
    ids = [queue["tianhe"].pk, queue["street"].pk, queue["nanshan"].pk]  # the last is not bob's
    response = bob_client.post(reverse("console:application_bulk_approve"), {"ids": ids}, follow=True)
    assert "已通过 2 份入会申请" in response.content.decode()
    assert set(Member.objects.values_list("name", flat=True)) == {"王申请", "赵申请"}
    queue["nanshan"].refresh_from_db()
    assert queue["nanshan"].status == ApplicationStatus.PENDING
    assert AuditEvent.objects.filter(action="application.approve").count() == 2


def test_a_viewer_without_change_rights_cannot_decide(queue: dict[str, Application], erin: User) -> None:
    client = console_client(erin)  # auditor of Guangzhou: may view members, not change
    body = client.get(reverse("console:applications")).content.decode()
    assert "王申请" in body and "批量通过" not in body
    response = client.post(reverse("console:application_approve", args=[queue["tianhe"].pk]))
    assert response.status_code == 404
    assert not Member.objects.exists()


def test_dashboard_counts_pending_applications_in_scope(
    queue: dict[str, Application], bob_client: Client, charlie_client: Client
) -> None:
    def count(client: Client) -> str:
        body = client.get(reverse("console:dashboard")).content.decode()
        card = body.split('id="pending-applications"', 1)[1].split("</a>", 1)[0]
        return card.split('class="stat-value">', 1)[1].split("<", 1)[0]

    assert count(bob_client) == "2"
    assert count(charlie_client) == "1"


def test_nav_links_to_the_queue(bob_client: Client, tree: Tree) -> None:
    body = bob_client.get(reverse("console:dashboard")).content.decode()
    assert reverse("console:applications") in body


def test_queue_query_count_does_not_grow_with_rows(
    tree: Tree, bob_client: Client, django_assert_max_num_queries: Any
) -> None:
    for i in range(12):
        submit(tree.tianhe_union, f"批量{i}")
    with django_assert_max_num_queries(14):
        response = bob_client.get(reverse("console:applications"))
    assert response.status_code == 200
