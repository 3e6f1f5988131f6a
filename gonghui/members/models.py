"""Member records. Personal data is encrypted; see core.pii."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Left
from django.utils.translation import gettext_lazy as _

from gonghui.core import pii
from gonghui.orgs.models import Org

# Path lengths of the levels whose subtrees are big enough to need their own index
# (city, district, street, grassroots: depth 2–5 at 4 characters a level). See
# members.selectors.in_subtree.
SUBTREE_PREFIX_LENGTHS = (8, 12, 16, 20)


class Gender(models.TextChoices):
    MALE = "M", _("男")
    FEMALE = "F", _("女")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    RETAINED = "retained", _("保留会籍")
    LEFT = "left", _("已退会")


class LeaveReason(models.TextChoices):
    VOLUNTARY = "voluntary", _("自愿退会")
    INACTIVE = "inactive", _("连续六个月未交会费、未参加活动")
    EXPELLED = "expelled", _("开除会籍")


class RetainReason(models.TextChoices):
    RETIRED = "retired", _("退休")
    UNEMPLOYED = "unemployed", _("失业")
    UNION_CLOSED = "union_closed", _("单位工会撤销")


class EmploymentStatus(models.TextChoices):
    EMPLOYED = "employed", _("在岗")
    UNEMPLOYED = "unemployed", _("失业")
    RETIRED = "retired", _("退休")
    FLEXIBLE = "flexible", _("灵活就业")


class HouseholdType(models.TextChoices):
    NON_AGRICULTURAL = "non_agri", _("非农业户口")
    AGRICULTURAL = "agri", _("农业户口")


class NewEmploymentGroup(models.TextChoices):
    COURIER = "courier", _("快递员")
    FOOD_DELIVERY = "food_delivery", _("网约送餐员")
    RIDE_HAILING = "ride_hailing", _("网约车司机")
    TRUCK_DRIVER = "truck_driver", _("货车司机")
    CARER = "carer", _("护工")
    HOUSEKEEPING = "housekeeping", _("家政服务员")
    SECURITY = "security", _("保安员")
    OTHER = "other", _("其他新就业形态")


class Education(models.TextChoices):
    PRIMARY = "primary", _("小学及以下")
    JUNIOR = "junior", _("初中")
    SENIOR = "senior", _("高中/中专/技校")
    COLLEGE = "college", _("大专")
    BACHELOR = "bachelor", _("本科")
    MASTER = "master", _("硕士研究生")
    DOCTOR = "doctor", _("博士研究生")


class PoliticalStatus(models.TextChoices):
    CPC = "cpc", _("中共党员")
    CPC_PROBATIONARY = "cpc_prob", _("中共预备党员")
    CYL = "cyl", _("共青团员")
    DEMOCRATIC = "democratic", _("民主党派")
    MASSES = "masses", _("群众")


class SkillLevel(models.TextChoices):
    NONE = "none", _("无")
    JUNIOR = "junior", _("初级工")
    INTERMEDIATE = "intermediate", _("中级工")
    SENIOR = "senior", _("高级工")
    TECHNICIAN = "technician", _("技师")
    SENIOR_TECHNICIAN = "senior_technician", _("高级技师")


class VerificationStatus(models.TextChoices):
    UNVERIFIED = "unverified", _("未实名")
    PENDING = "pending", _("核验中")
    VERIFIED = "verified", _("已实名")
    FAILED = "failed", _("核验未通过")


class Member(models.Model):
    """A person's one membership. Uniqueness is the blind index of the ID number.

    ``org_path`` copies the org's materialized path so that subtree lists filter and
    sort on one indexed table; ``orgs.actions.move_subtree`` keeps it in step.
    """

    # No index of its own: member_org_id_idx (org, id) serves every lookup by union.
    org = models.ForeignKey(
        Org, verbose_name=_("所在工会"), on_delete=models.PROTECT, related_name="members", db_index=False
    )
    org_path = models.CharField(max_length=255)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="member"
    )
    name = models.CharField(_("姓名"), max_length=64)
    name_pinyin = models.CharField(max_length=200, blank=True)
    name_initials = models.CharField(max_length=32, blank=True)
    id_number_enc = models.BinaryField(_("身份证号(密文)"))
    id_number_bidx = models.CharField(max_length=64)  # unique: member_id_bidx_unique
    id_number_masked = models.CharField(_("身份证号"), max_length=18)
    gender = models.CharField(_("性别"), max_length=1, choices=Gender.choices)
    # Only the year is kept in the clear: the masked ID number hides exactly the birth
    # date, so a plaintext date beside it would give the whole number back.
    birth_year = models.PositiveSmallIntegerField(_("出生年份"))
    ethnicity = models.CharField(_("民族"), max_length=16, blank=True, default="汉族")
    mobile = models.CharField(_("手机号"), max_length=11, blank=True)
    education = models.CharField(_("学历"), max_length=16, choices=Education.choices, blank=True)
    political_status = models.CharField(_("政治面貌"), max_length=16, choices=PoliticalStatus.choices, blank=True)
    household_type = models.CharField(_("户籍类型"), max_length=16, choices=HouseholdType.choices, blank=True)
    employment_status = models.CharField(
        _("就业状态"), max_length=16, choices=EmploymentStatus.choices, default=EmploymentStatus.EMPLOYED
    )
    is_migrant_worker = models.BooleanField(_("农民工"), default=False)
    new_employment_group = models.CharField(
        _("新就业形态群体"), max_length=20, choices=NewEmploymentGroup.choices, blank=True
    )
    skill_level = models.CharField(_("技能等级"), max_length=20, choices=SkillLevel.choices, blank=True)
    workplace = models.CharField(_("工作单位"), max_length=200, blank=True)
    join_date = models.DateField(_("入会日期"))
    card_number = models.CharField(_("会员卡号"), max_length=32, null=True, blank=True)  # unique: member_card_unique
    status = models.CharField(_("会籍状态"), max_length=16, choices=MemberStatus.choices, default=MemberStatus.ACTIVE)
    retain_reason = models.CharField(_("保留原因"), max_length=16, choices=RetainReason.choices, blank=True)
    bank_account_enc = models.BinaryField(_("银行账号(密文)"), null=True, blank=True)
    bank_account_bidx = models.CharField(max_length=64, blank=True)
    bank_account_masked = models.CharField(_("银行账号"), max_length=40, blank=True)
    bank_name = models.CharField(_("开户行"), max_length=100, blank=True)
    sensitive_consent_at = models.DateTimeField(_("敏感信息授权时间"), null=True, blank=True)
    # Real-name verification is a state separate from membership (DOMAIN.md); its history
    # is in Verification.
    verification_status = models.CharField(
        _("实名状态"), max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNVERIFIED
    )
    verified_at = models.DateTimeField(_("实名时间"), null=True, blank=True)
    left_at = models.DateTimeField(_("退会时间"), null=True, blank=True)
    leave_reason = models.CharField(_("退会原因"), max_length=16, choices=LeaveReason.choices, blank=True)
    # Dues paid or an activity taken part in; drives the inactivity review flag.
    last_active_at = models.DateTimeField(_("最近活跃时间"), null=True, blank=True)
    inactive_flagged_at = models.DateTimeField(_("长期未活跃标记时间"), null=True, blank=True)
    # Set when personal data was erased on a lawful request: the record stays as an
    # anonymised shell (status, union, join date, gender, birth year) for statistics.
    erased_at = models.DateTimeField(_("个人信息删除时间"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("会员")
        verbose_name_plural = _("会员")
        # Every index is paid for by every member written (an import of a million rows is
        # bound by them), so there is none nothing reads: unique keys are constraints, not
        # ``unique=True`` fields, because on PostgreSQL Django adds a second, LIKE-pattern
        # index beside each unique or indexed CharField — useless on an HMAC, a card number
        # or an exact mobile lookup.
        constraints = [
            models.UniqueConstraint(fields=["id_number_bidx"], name="member_id_bidx_unique"),
            models.UniqueConstraint(fields=["card_number"], name="member_card_unique"),
        ]
        indexes = [
            models.Index(fields=["mobile"], name="member_mobile_idx"),
            # Few members have a bank account on file: only they are indexed.
            models.Index(
                fields=["bank_account_bidx"], name="member_bank_bidx_idx", condition=~models.Q(bank_account_bidx="")
            ),
            # Subtree filters are prefix matches: LIKE 'path%' needs the pattern opclass on
            # PostgreSQL (ignored on SQLite).
            models.Index(fields=["org_path"], name="member_path_idx", opclasses=["varchar_pattern_ops"]),
            *(
                models.Index(Left("org_path", n), F("id"), name=f"member_subtree{n}_idx")
                for n in SUBTREE_PREFIX_LENGTHS
            ),
            models.Index(fields=["org", "id"], name="member_org_id_idx"),
            models.Index(fields=["name"], name="member_name_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["name_pinyin"], name="member_pinyin_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["name_initials"], name="member_initials_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.id_number_masked}）"

    @property
    def has_vote(self) -> bool:
        """Voting rights: active members; retained ones only where the province allows it."""
        if self.status == MemberStatus.ACTIVE:
            return True
        return self.status == MemberStatus.RETAINED and settings.RETAINED_MEMBERS_VOTE

    @property
    def mobile_masked(self) -> str:
        return pii.mask_mobile(self.mobile) if self.mobile else ""

    def reveal_id_number(self) -> str:
        """Plaintext ID number. Call only from ``members.actions.reveal_pii``, which audits."""
        return pii.decrypt(self.id_number_enc)

    def reveal_bank_account(self) -> str:
        return pii.decrypt(self.bank_account_enc) if self.bank_account_enc else ""


class CardSequence(models.Model):
    """The last serial issued under a card-number prefix (allocated under a row lock)."""

    prefix = models.CharField(max_length=16, primary_key=True)
    last = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}:{self.last}"


class ApplicationStatus(models.TextChoices):
    PENDING = "pending", _("待审批")
    APPROVED = "approved", _("已通过")
    REJECTED = "rejected", _("未通过")
    WITHDRAWN = "withdrawn", _("已撤回")


class Application(models.Model):
    """An online application to join a union (网上入会), decided by its cadres.

    The ID number is protected as on Member; at most one pending application per person
    (a partial unique constraint on the blind index).
    """

    org = models.ForeignKey(
        Org, verbose_name=_("申请加入的工会"), on_delete=models.PROTECT, related_name="applications"
    )
    org_path = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member_applications")
    name = models.CharField(_("姓名"), max_length=64)
    id_number_enc = models.BinaryField(_("身份证号(密文)"))
    id_number_bidx = models.CharField(max_length=64, db_index=True)
    id_number_masked = models.CharField(_("身份证号"), max_length=18)
    gender = models.CharField(_("性别"), max_length=1, choices=Gender.choices)
    birth_year = models.PositiveSmallIntegerField(_("出生年份"))
    mobile = models.CharField(_("手机号"), max_length=11)
    workplace = models.CharField(_("工作单位"), max_length=200, blank=True)
    employment_status = models.CharField(
        _("就业状态"), max_length=16, choices=EmploymentStatus.choices, default=EmploymentStatus.EMPLOYED
    )
    new_employment_group = models.CharField(
        _("新就业形态群体"), max_length=20, choices=NewEmploymentGroup.choices, blank=True
    )
    # PIPL: separate consent for sensitive personal data, with the text version agreed to.
    sensitive_consent_at = models.DateTimeField(_("敏感信息授权时间"))
    consent_version = models.CharField(_("授权书版本"), max_length=20)
    status = models.CharField(
        _("状态"), max_length=16, choices=ApplicationStatus.choices, default=ApplicationStatus.PENDING
    )
    reject_reason = models.CharField(_("不予通过的原因"), max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="applications")
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("入会申请")
        verbose_name_plural = _("入会申请")
        constraints = [
            models.UniqueConstraint(
                fields=["id_number_bidx"],
                condition=models.Q(status="pending"),
                name="application_one_pending_per_person",
            )
        ]
        indexes = [
            models.Index(fields=["org", "status", "created_at"], name="application_queue_idx"),
            models.Index(fields=["org_path"], name="application_path_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.id_number_masked}）→ {self.org_id}"


class TransferStatus(models.TextChoices):
    REQUESTED = "requested", _("待转出工会同意")
    RELEASED = "released", _("待转入工会接收")
    ACCEPTED = "accepted", _("已完成")
    DECLINED = "declined", _("转入工会不予接收")
    CANCELLED = "cancelled", _("已取消")


OPEN_TRANSFER_STATUSES = (TransferStatus.REQUESTED, TransferStatus.RELEASED)


class TransferInitiator(models.TextChoices):
    MEMBER = "member", _("会员本人")
    CADRE = "cadre", _("工会干部")


class Transfer(models.Model):
    """Moving one membership between unions (转会): release, then accept or decline.

    ``to_residence`` marks a transfer to the residence-area union because no receiving
    union exists; the membership waits there. ``escalated_to`` is the common parent union
    that took over the release when the outgoing union let it time out.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="transfers")
    from_org = models.ForeignKey(Org, verbose_name=_("转出工会"), on_delete=models.PROTECT, related_name="+")
    from_path = models.CharField(max_length=255)
    to_org = models.ForeignKey(Org, verbose_name=_("转入工会"), on_delete=models.PROTECT, related_name="+")
    to_path = models.CharField(max_length=255)
    to_residence = models.BooleanField(_("转入居住地工会暂存"), default=False)
    escalated_to = models.ForeignKey(
        Org, verbose_name=_("上级工会督办"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=TransferStatus.choices, default=TransferStatus.REQUESTED
    )
    initiated_by = models.CharField(_("发起方"), max_length=8, choices=TransferInitiator.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("转会原因"), max_length=500, blank=True)
    new_workplace = models.CharField(_("新工作单位"), max_length=200, blank=True)
    decline_reason = models.CharField(_("不予接收的原因"), max_length=500, blank=True)
    release_due_at = models.DateTimeField(_("转出办理期限"))
    released_at = models.DateTimeField(_("转出时间"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("发起时间"), auto_now_add=True)

    org_path_copies: ClassVar[tuple[str, ...]] = ("from_path", "to_path")

    class Meta:
        verbose_name = _("转会")
        verbose_name_plural = _("转会")
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=models.Q(status__in=["requested", "released"]),
                name="transfer_one_open_per_member",
            )
        ]
        indexes = [
            models.Index(fields=["from_path"], name="transfer_from_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["to_path"], name="transfer_to_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["status", "release_due_at"], name="transfer_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_org_id} → {self.to_org_id} ({self.status})"


class EventKind(models.TextChoices):
    JOINED = "joined", _("入会")
    TRANSFERRED = "transferred", _("转会")
    RETAINED = "retained", _("保留会籍")
    RESTORED = "restored", _("恢复正常会籍")
    LEFT = "left", _("退会")
    REJOINED = "rejoined", _("重新入会")
    FLAGGED_INACTIVE = "flagged_inactive", _("长期未活跃待核查")
    ERASED = "erased", _("个人信息已删除")


class MembershipEvent(models.Model):
    """One step in a membership's history, append-only: which union, when, what happened.

    The unions a member belonged to are the ``org`` of the events in order; a transfer
    event also names ``from_org``.
    """

    # No index of its own: membership_event_member_idx (member, on_date, id) leads with it.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="events", db_index=False)
    kind = models.CharField(_("事项"), max_length=20, choices=EventKind.choices)
    org = models.ForeignKey(Org, verbose_name=_("所在工会"), on_delete=models.PROTECT, related_name="+")
    from_org = models.ForeignKey(
        Org, verbose_name=_("原工会"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    on_date = models.DateField(_("日期"))
    note = models.CharField(_("说明"), max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("会籍记录")
        verbose_name_plural = _("会籍记录")
        ordering = ("on_date", "id")
        indexes = [models.Index(fields=["member", "on_date", "id"], name="membership_event_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.on_date}"


def _private_storage() -> Any:
    from django.core.files.storage import storages

    return storages["private"]


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("处理中")
    READY = "ready", _("待确认")  # an import's dry run is done: the cadre reviews and commits
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")
    CANCELLED = "cancelled", _("已取消")


class ImportJob(models.Model):
    """One uploaded member sheet: a dry run (preview), then a resumable commit.

    ``cursor`` is the last data row (0-based) whose effects are committed; each chunk's
    members, updates, transfer requests and ``ImportRejection`` rows commit in one
    transaction with the cursor, so a killed worker resumes after the last chunk.
    """

    org = models.ForeignKey(Org, verbose_name=_("导入到工会"), on_delete=models.PROTECT, related_name="import_jobs")
    org_path = models.CharField(max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    source = models.FileField(_("上传文件"), storage=_private_storage, upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("文件名"), max_length=255)
    file_format = models.CharField(max_length=8)  # xlsx | csv
    encoding = models.CharField(max_length=20, blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    committing = models.BooleanField(default=False)  # False: the dry run; True: the commit
    total_rows = models.PositiveIntegerField(default=0)
    cursor = models.IntegerField(default=-1)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    transfers = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # The dry run's result: counts by outcome and by reason code, the first rejected rows,
    # the header mapping, and the changed fields of the first updates.
    preview = models.JSONField(default=dict, blank=True)
    error_report = models.FileField(storage=_private_storage, upload_to="imports/reports/%Y/%m/", blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("会员导入")
        verbose_name_plural = _("会员导入")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.original_name

    @property
    def percent(self) -> int:
        return 100 if not self.total_rows else min(100, (self.cursor + 1) * 100 // self.total_rows)


class ImportRejection(models.Model):
    """A rejected row of a committing import: its sheet row number and the reason."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejections")
    row_number = models.PositiveIntegerField()  # as Excel shows it (header = 1)
    code = models.CharField(max_length=40)
    message = models.CharField(max_length=300)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "row_number"], name="import_rejection_once")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number} {self.code}"


class ExportJob(models.Model):
    """A member list export (xlsx or csv), masked unless an allowed role asked otherwise."""

    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="export_jobs")
    org_path = models.CharField(max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    filters = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list)
    file_format = models.CharField(max_length=8)
    unmasked = models.BooleanField(default=False)
    reason = models.CharField(_("导出事由"), max_length=300, blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    written_rows = models.PositiveIntegerField(default=0)
    file = models.FileField(storage=_private_storage, upload_to="exports/%Y/%m/", blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("会员导出")
        verbose_name_plural = _("会员导出")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"export {self.pk}"


class Severity(models.TextChoices):
    INFO = "info", _("提示")
    WARNING = "warning", _("警告")
    ERROR = "error", _("错误")


class FindingStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    RESOLVED = "resolved", _("已处理")
    DISMISSED = "dismissed", _("已忽略")


class DataFinding(models.Model):
    """One finding of a data check (数据对比智能校验) about one member, or a union."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="data_findings")
    org_path = models.CharField(max_length=255)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.CASCADE, related_name="findings")
    rule = models.CharField(_("规则"), max_length=40)
    severity = models.CharField(_("级别"), max_length=8, choices=Severity.choices)
    message = models.CharField(_("说明"), max_length=300)
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("数据校验发现")
        verbose_name_plural = _("数据校验发现")
        constraints = [
            # A rule reports one open finding per member: re-running a check adds nothing.
            models.UniqueConstraint(
                fields=["rule", "member"], condition=models.Q(status="open"), name="finding_open_once"
            )
        ]
        indexes = [
            models.Index(fields=["org_path"], name="finding_path_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["status", "severity", "rule"], name="finding_filter_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class VerificationMethod(models.TextChoices):
    CARRIER_3 = "carrier3", _("运营商三要素")
    ID_2 = "id2", _("姓名身份证二要素")
    MANUAL = "manual", _("人工审核")


class VerificationOutcome(models.TextChoices):
    PENDING = "pending", _("核验中")
    MATCH = "match", _("一致")
    MISMATCH = "mismatch", _("不一致")
    NOT_FOUND = "not_found", _("查无此人")
    ERROR = "error", _("核验服务异常")


class Verification(models.Model):
    """One real-name verification attempt of a member (append-only history)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="verifications")
    method = models.CharField(_("方式"), max_length=12, choices=VerificationMethod.choices)
    outcome = models.CharField(
        _("结果"), max_length=12, choices=VerificationOutcome.choices, default=VerificationOutcome.PENDING
    )
    provider = models.CharField(max_length=60, blank=True)
    provider_ref = models.CharField(max_length=100, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    note = models.CharField(max_length=300, blank=True)
    batch = models.ForeignKey(
        "VerificationBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="verifications"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("实名核验")
        verbose_name_plural = _("实名核验")
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["member", "-created_at"], name="verification_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.method} {self.outcome}"


class VerificationBatch(models.Model):
    """Verifying many members (an import, a union's unverified members), throttled and resumable."""

    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="verification_batches")
    org_path = models.CharField(max_length=255)
    import_job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("状态"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)  # last member id handled
    counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    def __str__(self) -> str:
        return f"verification batch {self.pk}"
