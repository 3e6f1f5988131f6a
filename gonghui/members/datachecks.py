"""数据对比智能校验: rules that look for implausible member data and record findings.

A rule is declared once (``RULES``): a stable code, a severity, a Chinese title and a
function that, given a batch of members, returns the members it finds something about
with a message. Running the checks over a set of members (``check_members``) makes the
open findings match the rules' answers: a new problem opens a finding, a problem that
no longer holds is resolved automatically, and an open finding that still holds is left
as it is (the partial unique constraint ``finding_open_once`` makes a duplicate
impossible even for two runs at once). A finding a cadre dismissed stays dismissed: the
rule does not reopen it.

``run_checks`` runs the checks over a union's subtree for a cadre: inline for a small
subtree, as a background task (``run_checks_task``) for a big one. Either way the work
is batched by member id, one transaction per batch, so an interrupted run is simply run
again. The importer calls ``check_members`` with the ids it has just written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django_tasks import task

from gonghui.core import access, audit
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members import selectors
from gonghui.members.models import (
    DataFinding,
    EmploymentStatus,
    FindingStatus,
    Member,
    MemberStatus,
    Severity,
)
from gonghui.orgs.models import Org, OrgStatus

BATCH_SIZE = 1000
# Subtrees with more members than this are checked by a background task.
INLINE_LIMIT = 5000

# (message, details) for one member.
Found = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    title: str
    find: Callable[[Sequence[Member]], dict[int, Found]]


@dataclass
class CheckCounts:
    checked: int = 0
    created: int = 0
    resolved: int = 0
    queued: bool = False
    by_rule: dict[str, int] = field(default_factory=dict)

    def add(self, other: CheckCounts) -> None:
        self.checked += other.checked
        self.created += other.created
        self.resolved += other.resolved
        for code, n in other.by_rule.items():
            self.by_rule[code] = self.by_rule.get(code, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "created": self.created,
            "resolved": self.resolved,
            "queued": self.queued,
            "by_rule": self.by_rule,
        }


def _age(member: Member) -> int:
    return timezone.localdate().year - member.birth_year


def find_same_mobile(members: Sequence[Member]) -> dict[int, Found]:
    """The same mobile number on more than one current member (anywhere in the tree)."""
    mobiles = {m.mobile for m in members if m.mobile}
    if not mobiles:
        return {}
    shared = dict(
        Member.objects.filter(mobile__in=mobiles, erased_at__isnull=True)
        .exclude(status=MemberStatus.LEFT)
        .values("mobile")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("mobile", "n")
    )
    return {
        m.pk: (f"手机号 {m.mobile_masked} 同时登记在 {shared[m.mobile]} 名会员名下。", {"count": shared[m.mobile]})
        for m in members
        if m.mobile in shared
    }


# Working age bounds: child labour below 16; above 70 an "employed" record is almost
# always a retiree never updated; retirement below 40 is almost always a typo.
MIN_WORK_AGE = 16
MAX_WORK_AGE = 70
MIN_RETIRE_AGE = 40


def find_age_employment(members: Sequence[Member]) -> dict[int, Found]:
    found: dict[int, Found] = {}
    for m in members:
        age = _age(m)
        if m.employment_status == EmploymentStatus.EMPLOYED and age < MIN_WORK_AGE:
            found[m.pk] = (f"就业状态为在岗，但年龄仅 {age} 岁（不满 {MIN_WORK_AGE} 岁）。", {"age": age})
        elif m.employment_status == EmploymentStatus.EMPLOYED and age > MAX_WORK_AGE:
            found[m.pk] = (f"就业状态为在岗，但年龄已 {age} 岁（超过 {MAX_WORK_AGE} 岁）。", {"age": age})
        elif m.employment_status == EmploymentStatus.RETIRED and age < MIN_RETIRE_AGE:
            found[m.pk] = (f"就业状态为退休，但年龄仅 {age} 岁（不满 {MIN_RETIRE_AGE} 岁）。", {"age": age})
    return found


def _org_provinces(org_ids: Iterable[int]) -> dict[int, str]:
    """Province (first two digits of the region code) of each union: its own region code,
    else the nearest ancestor's. Unions with none anywhere are left out."""
    orgs = list(Org.objects.filter(pk__in=set(org_ids)).only("pk", "path", "region_code"))
    step = Org.steplen
    prefixes = {o.path[:n] for o in orgs if not o.region_code for n in range(step, len(o.path), step)}
    ancestors = dict(Org.objects.filter(path__in=prefixes).exclude(region_code="").values_list("path", "region_code"))
    result: dict[int, str] = {}
    for o in orgs:
        code = o.region_code
        n = len(o.path) - step
        while not code and n > 0:
            code = ancestors.get(o.path[:n], "")
            n -= step
        if code:
            result[o.pk] = code[:2]
    return result


def find_region_far(members: Sequence[Member]) -> dict[int, Found]:
    """ID numbers issued in another province than the union's (information only: migrant
    workers are common). The masked ID number keeps the six-digit region code."""
    provinces = _org_provinces(m.org_id for m in members)
    found: dict[int, Found] = {}
    for m in members:
        union_province = provinces.get(m.org_id)
        id_province = m.id_number_masked[:2]
        if union_province and id_province.isdigit() and id_province != union_province:
            found[m.pk] = (
                f"身份证签发地（{id_province}）与所在工会所属省份（{union_province}）不同。",
                {"id_province": id_province, "org_province": union_province},
            )
    return found


def find_missing_required(members: Sequence[Member]) -> dict[int, Found]:
    found: dict[int, Found] = {}
    for m in members:
        missing = []
        if not m.mobile:
            missing.append("手机号")
        if m.employment_status == EmploymentStatus.EMPLOYED and not m.workplace.strip():
            missing.append("工作单位")
        if m.join_date is None:  # NOT NULL in the schema today; kept for imported legacy data
            missing.append("入会日期")
        if missing:
            found[m.pk] = (f"缺少必填信息：{'、'.join(missing)}。", {"missing": missing})
    return found


def find_closed_union(members: Sequence[Member]) -> dict[int, Found]:
    return {
        m.pk: (f"会籍状态为正常，但所在工会「{m.org.name}」已撤销。", {"org_id": m.org_id})
        for m in members
        if m.status == MemberStatus.ACTIVE and m.org.status == OrgStatus.CLOSED
    }


RULES: tuple[Rule, ...] = (
    Rule("SAME_MOBILE", Severity.WARNING, "手机号重复", find_same_mobile),
    Rule("AGE_EMPLOYMENT", Severity.WARNING, "年龄与就业状态不符", find_age_employment),
    Rule("REGION_FAR", Severity.INFO, "身份证签发地与工会不在同省", find_region_far),
    Rule("MISSING_REQUIRED", Severity.WARNING, "必填信息缺失", find_missing_required),
    Rule("CLOSED_UNION", Severity.ERROR, "所在工会已撤销", find_closed_union),
)
RULES_BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}
AUTO_RESOLVED_NOTE = "复查时问题已不存在，系统自动关闭。"


def _checkable(member: Member) -> bool:
    """Left and erased records are history: their open findings are closed, none opened."""
    return member.status != MemberStatus.LEFT and member.erased_at is None


@transaction.atomic
def _check_batch(members: Sequence[Member], rules: Sequence[Rule] = RULES) -> CheckCounts:
    counts = CheckCounts(checked=len(members))
    live = [m for m in members if _checkable(m)]
    by_id = {m.pk: m for m in members}
    wanted: dict[tuple[str, int], Found] = {}
    for rule in rules:
        for member_id, found in rule.find(live).items():
            wanted[(rule.code, member_id)] = found
    codes = [r.code for r in rules]
    existing = DataFinding.objects.filter(member_id__in=by_id, rule__in=codes).exclude(status=FindingStatus.RESOLVED)
    open_keys: set[tuple[str, int]] = set()
    dismissed: set[tuple[str, int]] = set()
    stale: list[int] = []
    for f in existing.only("pk", "rule", "member_id", "status", "org_id"):
        if f.member_id is None:  # union-level findings are not these rules' business
            continue
        key = (f.rule, f.member_id)
        if f.status == FindingStatus.DISMISSED:
            dismissed.add(key)
        else:
            open_keys.add(key)
            if key not in wanted:
                stale.append(f.pk)
            elif f.org_id != by_id[f.member_id].org_id:  # the member moved since
                member = by_id[f.member_id]
                DataFinding.objects.filter(pk=f.pk).update(org_id=member.org_id, org_path=member.org_path)
    now = timezone.now()
    if stale:
        counts.resolved = DataFinding.objects.filter(pk__in=stale, status=FindingStatus.OPEN).update(
            status=FindingStatus.RESOLVED, resolved_at=now, resolved_by=None, resolution_note=AUTO_RESOLVED_NOTE
        )
    new = [
        DataFinding(
            org_id=by_id[member_id].org_id,
            org_path=by_id[member_id].org_path,
            member_id=member_id,
            rule=code,
            severity=RULES_BY_CODE[code].severity,
            message=message[:300],
            details=details,
        )
        for (code, member_id), (message, details) in sorted(wanted.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        if (code, member_id) not in open_keys and (code, member_id) not in dismissed
    ]
    if new:
        before = DataFinding.objects.filter(member_id__in=by_id, status=FindingStatus.OPEN).count()
        # A concurrent run may have opened the same finding: the partial unique index
        # keeps one, and the other insert is ignored.
        DataFinding.objects.bulk_create(new, ignore_conflicts=True)
        after = DataFinding.objects.filter(member_id__in=by_id, status=FindingStatus.OPEN).count()
        counts.created = after - before
    for code, _member_id in wanted:
        counts.by_rule[code] = counts.by_rule.get(code, 0) + 1
    return counts


def _members(qs: Any, limit: int | None = None) -> list[Member]:
    qs = (
        qs.select_related("org")
        .only(
            "pk",
            "org_id",
            "org_path",
            "org__name",
            "org__status",
            "name",
            "id_number_masked",
            "birth_year",
            "mobile",
            "employment_status",
            "workplace",
            "join_date",
            "status",
            "erased_at",
        )
        .order_by("pk")
    )
    return list(qs[:limit] if limit else qs)


def check_members(member_ids: Iterable[int]) -> CheckCounts:
    """Check these members now (the importer calls this after a commit), in batches."""
    ids = sorted(set(member_ids))
    counts = CheckCounts()
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        counts.add(_check_batch(_members(Member.objects.filter(pk__in=chunk))))
    return counts


def check_subtree(org: Org) -> CheckCounts:
    """Check every member of ``org``'s subtree, batch by batch in member-id order."""
    counts = CheckCounts()
    cursor = 0
    while True:
        batch = _members(selectors.in_subtree(Member.objects.filter(pk__gt=cursor), org.path), BATCH_SIZE)
        if not batch:
            return counts
        counts.add(_check_batch(batch))
        cursor = batch[-1].pk


def run_checks(actor: Any, org: Org, *, background: bool | None = None) -> CheckCounts:
    """运行校验 for a cadre over ``org``'s subtree (``member.change`` there, 404 otherwise).

    ``background`` None decides by size: more than ``INLINE_LIMIT`` members go to a task,
    enqueued after commit; the counts then say ``queued``.
    """
    access.require(actor, Perm.MEMBER_CHANGE, org.path)
    if background is None:
        limit = settings.DATACHECK_INLINE_LIMIT
        background = Member.objects.filter(org_path__startswith=org.path)[limit : limit + 1].exists()
    if background:
        with transaction.atomic():
            audit.record("datacheck.queue", actor=actor, obj=org, org=org)
            org_id, actor_id = org.pk, getattr(actor, "pk", None)
            transaction.on_commit(lambda: run_checks_task.enqueue(org_id, actor_id))
        return CheckCounts(queued=True)
    counts = check_subtree(org)
    audit.record("datacheck.run", actor=actor, obj=org, org=org, details=counts.as_dict())
    return counts


@task()
def run_checks_task(org_id: int, actor_id: int | None = None) -> dict[str, Any]:
    org = Org.objects.get(pk=org_id)
    counts = check_subtree(org)
    audit.record(
        "datacheck.run",
        obj=org,
        org=org,
        actor_label="datacheck_task",
        details={**counts.as_dict(), "requested_by": actor_id},
    )
    return counts.as_dict()


CLOSABLE = {FindingStatus.RESOLVED, FindingStatus.DISMISSED}


def close_findings(actor: Any, finding_ids: Iterable[int], status: str, note: str) -> int:
    """Bulk 标记已处理 / 忽略 with a note; each closed finding gets an audit row.

    Only open findings inside the actor's ``member.change`` scope are touched; others in
    the list are silently skipped (they are not the actor's to see). Returns how many closed.
    """
    if status not in CLOSABLE:
        raise InvalidValue("FINDING_BAD_STATUS", "处理结果只能是“已处理”或“已忽略”。")
    note = (note or "").strip()
    if not note:
        raise InvalidValue("FINDING_NOTE_REQUIRED", "请填写处理说明。")
    ids = sorted({int(i) for i in finding_ids})
    if not ids:
        raise InvalidValue("FINDING_NONE_SELECTED", "请先选择要处理的校验结果。")
    now = timezone.now()
    closed = 0
    with transaction.atomic():
        qs = access.scope(actor, DataFinding.objects.filter(pk__in=ids), Perm.MEMBER_CHANGE)
        for finding in qs.select_for_update().select_related("org").order_by("pk"):
            if finding.status != FindingStatus.OPEN:
                continue
            finding.status = status
            finding.resolved_by = actor
            finding.resolved_at = now
            finding.resolution_note = note[:300]
            finding.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])
            audit.record(
                f"datafinding.{status}",
                actor=actor,
                obj=finding,
                details={"rule": finding.rule, "member_id": finding.member_id, "note": note[:300]},
            )
            closed += 1
    if not closed:
        raise Conflict("FINDING_NOT_OPEN", "所选校验结果均已处理。")
    return closed


def open_counts_by_rule(qs: Any) -> dict[str, int]:
    """Open findings per rule within a (scoped) queryset, for the chips."""
    rows = qs.filter(status=FindingStatus.OPEN).values("rule").annotate(n=Count("id")).values_list("rule", "n")
    counts: dict[str, int] = defaultdict(int)
    for code, n in rows:
        counts[code] += n
    return dict(counts)


__all__ = [
    "RULES",
    "RULES_BY_CODE",
    "CheckCounts",
    "check_members",
    "check_subtree",
    "close_findings",
    "open_counts_by_rule",
    "run_checks",
]
