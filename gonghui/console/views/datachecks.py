"""数据校验: the findings of the data checks, filtered and closed in bulk; 运行校验 for a union.

Every read is scoped by ``core.access`` (findings of another district do not exist here);
every change goes through ``members.datachecks``, which checks the permission again and audits.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.members import datachecks
from gonghui.members.models import DataFinding, FindingStatus, Severity
from gonghui.orgs.models import Org, OrgStatus

PAGE_SIZE = 100
PICKER_DEPTH = 2
PICKER_LIMIT = 300
SEVERITY_TONES = {Severity.INFO: "blue", Severity.WARNING: "amber", Severity.ERROR: "red"}
FINDING_STATUS_TONES = {FindingStatus.OPEN: "amber", FindingStatus.RESOLVED: "green", FindingStatus.DISMISSED: "grey"}
FILTER_KEYS = ("rule", "severity", "status", "org")


def picker_orgs(user: Any, perm: Perm = Perm.MEMBER_CHANGE) -> list[Org]:
    """Active unions a cadre may pick: their own and up to two levels below."""
    roots = [g for g in access.grants(user) if g.allows(perm)]
    qs = access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), perm)
    if roots:
        deepest = max(len(g.path) // Org.steplen for g in roots) + PICKER_DEPTH
        qs = qs.filter(depth__lte=deepest)
    return list(qs.order_by("path")[:PICKER_LIMIT])


def picker_choices(orgs: list[Org]) -> list[tuple[int, str]]:
    top = min((o.depth for o in orgs), default=1)
    return [(o.pk, "　" * (o.depth - top) + o.name) for o in orgs]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@cadre_required
def data_findings(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    filters = {k: request.GET.get(k, "") for k in FILTER_KEYS}
    if "status" not in request.GET:
        filters["status"] = FindingStatus.OPEN
    qs = access.scope(user, DataFinding.objects.all(), Perm.MEMBER_VIEW)
    org = None
    if org_id := _int(filters["org"]):
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_VIEW, pk=org_id)
        qs = qs.filter(org_path__startswith=org.path)
    chip_counts = datachecks.open_counts_by_rule(qs)
    if filters["rule"] in datachecks.RULES_BY_CODE:
        qs = qs.filter(rule=filters["rule"])
    if filters["severity"] in Severity.values:
        qs = qs.filter(severity=filters["severity"])
    if filters["status"] in FindingStatus.values:
        qs = qs.filter(status=filters["status"])
    after = _int(request.GET.get("after"))
    page_qs = qs.filter(pk__lt=after) if after else qs
    rows = list(page_qs.select_related("member", "org", "resolved_by").order_by("-pk")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    changeable = {r.pk for r in rows if access.can(user, Perm.MEMBER_CHANGE, r.org_path)}
    keep = {k: v for k, v in filters.items() if v}
    chips = [
        {
            "code": rule.code,
            "title": rule.title,
            "tone": SEVERITY_TONES[Severity(rule.severity)],
            "count": chip_counts.get(rule.code, 0),
            "url": "?" + urlencode({**keep, "rule": rule.code, "status": FindingStatus.OPEN}),
            "active": filters["rule"] == rule.code,
        }
        for rule in datachecks.RULES
    ]
    run_orgs = picker_orgs(user)
    context = {
        "rows": [
            {
                "f": f,
                "title": datachecks.RULES_BY_CODE[f.rule].title if f.rule in datachecks.RULES_BY_CODE else f.rule,
                "severity_tone": SEVERITY_TONES.get(Severity(f.severity), "grey")
                if f.severity in Severity.values
                else "grey",
                "status_tone": FINDING_STATUS_TONES.get(FindingStatus(f.status), "grey"),
                "can_close": f.pk in changeable and f.status == FindingStatus.OPEN,
            }
            for f in rows
        ],
        "any_closable": any(f.pk in changeable and f.status == FindingStatus.OPEN for f in rows),
        "chips": chips,
        "all_rules_url": "?" + urlencode({k: v for k, v in keep.items() if k != "rule"}),
        "filters": filters,
        "org": org,
        "rules": datachecks.RULES,
        "severities": Severity.choices,
        "statuses": FindingStatus.choices,
        "next_after": rows[-1].pk if more else None,
        "next_query": urlencode({**keep, "after": rows[-1].pk}) if more else "",
        "run_choices": picker_choices(run_orgs),
        "run_selected": org.pk if org else (run_orgs[0].pk if run_orgs else None),
    }
    return page(request, "console/data_findings.html", context, section="datachecks")


def _back(request: HttpRequest) -> str:
    back = request.POST.get("back", "")
    base = reverse("console:data_findings")
    return back if back.startswith(base) else base


@require_POST
@cadre_required
def data_findings_close(request: HttpRequest) -> HttpResponse:
    """Bulk 标记已处理 / 忽略 of the selected findings, with a note (each one audited)."""
    user = cadre(request)
    status = FindingStatus.DISMISSED if request.POST.get("action") == "dismiss" else FindingStatus.RESOLVED
    ids = [i for i in (_int(v) for v in request.POST.getlist("ids")) if i]
    try:
        n = datachecks.close_findings(user, ids, status, request.POST.get("note", "")[:300])
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        label = _("已忽略") if status == FindingStatus.DISMISSED else _("已处理")
        messages.success(request, _("%(n)d 条校验结果已标记为%(label)s。") % {"n": n, "label": label})
    return redirect(_back(request))


@require_POST
@cadre_required
def data_checks_run(request: HttpRequest) -> HttpResponse:
    """运行校验 over one union's subtree (inline when small, in the background when big)."""
    user = cadre(request)
    org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_CHANGE, pk=_int(request.POST.get("org")))
    try:
        counts = datachecks.run_checks(user, org)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if counts.queued:
            messages.success(request, _("%(org)s 会员较多，校验已在后台运行，稍后刷新查看结果。") % {"org": org.name})
        else:
            messages.success(
                request,
                _("已校验 %(org)s 的 %(n)d 名会员：新发现 %(new)d 条，自动关闭 %(fixed)d 条。")
                % {"org": org.name, "n": counts.checked, "new": counts.created, "fixed": counts.resolved},
            )
    return redirect(reverse("console:data_findings") + "?" + urlencode({"org": org.pk}))
