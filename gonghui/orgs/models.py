"""The union tree and the cadres' roles on it."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from treebeard.mp_tree import MP_Node, MP_NodeManager

from gonghui.core.access import RoleKind


class OrgLevel(models.TextChoices):
    PROVINCE = "province", _("省总工会")
    CITY = "city", _("市总工会")
    DISTRICT = "district", _("县(区)总工会")
    STREET = "street", _("乡镇/街道工会")
    GRASSROOTS = "grassroots", _("基层工会")
    BRANCH = "branch", _("分工会")
    GROUP = "group", _("工会小组")
    INDUSTRY = "industry", _("产业工会")
    FEDERATION = "federation", _("区域性/行业性工会联合会")


# Which levels may sit directly under which. Industry unions and federations hang under
# a regional union of any level above the grassroots.
ALLOWED_CHILDREN: dict[str, set[str]] = {
    OrgLevel.PROVINCE: {OrgLevel.CITY, OrgLevel.INDUSTRY, OrgLevel.FEDERATION, OrgLevel.GRASSROOTS},
    OrgLevel.CITY: {OrgLevel.DISTRICT, OrgLevel.INDUSTRY, OrgLevel.FEDERATION, OrgLevel.GRASSROOTS},
    OrgLevel.DISTRICT: {OrgLevel.STREET, OrgLevel.INDUSTRY, OrgLevel.FEDERATION, OrgLevel.GRASSROOTS},
    OrgLevel.STREET: {OrgLevel.GRASSROOTS, OrgLevel.FEDERATION},
    OrgLevel.FEDERATION: {OrgLevel.GRASSROOTS},
    OrgLevel.INDUSTRY: {OrgLevel.GRASSROOTS},
    OrgLevel.GRASSROOTS: {OrgLevel.BRANCH, OrgLevel.GROUP},
    OrgLevel.BRANCH: {OrgLevel.GROUP},
    OrgLevel.GROUP: set(),
}

# Levels that hold members directly (a worker belongs to a grassroots union, or waits
# at a street/district union when the employer has none).
MEMBER_HOLDING_LEVELS = {
    OrgLevel.GRASSROOTS,
    OrgLevel.BRANCH,
    OrgLevel.GROUP,
    OrgLevel.STREET,
    OrgLevel.DISTRICT,
    OrgLevel.FEDERATION,
    OrgLevel.INDUSTRY,
    OrgLevel.CITY,
    OrgLevel.PROVINCE,
}


class UnitType(models.TextChoices):
    STATE_OWNED = "state", _("国有企业")
    COLLECTIVE = "collective", _("集体企业")
    PRIVATE = "private", _("私营企业")
    FOREIGN = "foreign", _("外资企业")
    HMT = "hmt", _("港澳台资企业")
    INSTITUTION = "institution", _("事业单位")
    GOVERNMENT = "government", _("机关")
    NON_ENTERPRISE = "non_enterprise", _("民办非企业单位")
    SOCIAL = "social", _("社会团体")
    INDIVIDUAL = "individual", _("个体工商户")
    OTHER = "other", _("其他")


class OrgStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    CLOSED = "closed", _("已撤销")


class OrgManager(MP_NodeManager):
    pass


class Org(MP_Node):
    """A union organisation. Its materialized ``path`` is the tenancy key.

    ``industry_parent`` is the second, non-owning parent: an industry union that a
    grassroots union also belongs to. It grants no access; scoping follows ``path``.
    """

    # 4 base-36 characters per level: 1.6M children per node, depth 8 → 32 chars.
    steplen = 4
    node_order_by: ClassVar[list[str]] = []

    name = models.CharField(_("工会名称"), max_length=200)
    short_name = models.CharField(_("简称"), max_length=60, blank=True)
    name_pinyin = models.CharField(max_length=400, blank=True, db_index=True)
    name_initials = models.CharField(max_length=100, blank=True, db_index=True)
    level = models.CharField(_("层级"), max_length=16, choices=OrgLevel.choices)
    status = models.CharField(_("状态"), max_length=16, choices=OrgStatus.choices, default=OrgStatus.ACTIVE)
    industry_parent = models.ForeignKey(
        "self",
        verbose_name=_("所属产业工会"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="industry_members",
        limit_choices_to={"level": OrgLevel.INDUSTRY},
    )
    uscc = models.CharField(_("工会统一社会信用代码"), max_length=18, null=True, blank=True, unique=True)
    unit_name = models.CharField(_("单位名称"), max_length=200, blank=True)
    unit_uscc = models.CharField(_("单位统一社会信用代码"), max_length=18, blank=True, db_index=True)
    unit_type = models.CharField(_("单位性质"), max_length=20, choices=UnitType.choices, blank=True)
    industry = models.CharField(_("所属行业"), max_length=60, blank=True)
    region_code = models.CharField(_("行政区划代码"), max_length=6, blank=True, db_index=True)
    address = models.CharField(_("地址"), max_length=300, blank=True)
    employee_count = models.PositiveIntegerField(_("职工人数"), null=True, blank=True)
    declared_member_count = models.PositiveIntegerField(_("会员人数(申报)"), null=True, blank=True)
    chair_name = models.CharField(_("工会主席"), max_length=64, blank=True)
    founded_on = models.DateField(_("成立日期"), null=True, blank=True)
    approval_date = models.DateField(_("批准日期"), null=True, blank=True)
    approval_doc_no = models.CharField(_("批复文号"), max_length=100, blank=True)
    term_start = models.DateField(_("本届任期开始"), null=True, blank=True)
    term_end = models.DateField(_("本届任期结束"), null=True, blank=True)
    closed_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    # The union's own space: branding shown on its home page in the portal.
    intro = models.TextField(_("简介"), blank=True)
    logo = models.ImageField(_("标志"), upload_to="orgs/logo/", blank=True)
    banner = models.ImageField(_("横幅"), upload_to="orgs/banner/", blank=True)
    theme_color = models.CharField(_("主题色"), max_length=7, default="#c8161d")
    # A pool union (新就业形态兜底工会) takes couriers, riders, drivers… who have no
    # workplace union; the finder offers the nearest one by region.
    is_pool_union = models.BooleanField(_("新就业形态兜底工会"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgManager()

    scope_path_field: ClassVar[str] = "path"

    class Meta:
        verbose_name = _("工会组织")
        verbose_name_plural = _("工会组织")
        indexes = [
            models.Index(fields=["level", "status"], name="org_level_status_idx"),
            models.Index(fields=["path"], name="org_path_like_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["name"], name="org_name_like_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == OrgStatus.ACTIVE


class OrgTag(models.Model):
    """A free label a union carries (非公企业, 新就业形态, 园区…): activities and notices
    can be aimed at unions with a tag."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("标签"), max_length=20)

    class Meta:
        verbose_name = _("工会标签")
        verbose_name_plural = _("工会标签")
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="org_tag_once")]
        indexes = [models.Index(fields=["name", "org"], name="org_tag_name_idx")]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A cadre's role on an org; it grants that role's rights over the whole subtree."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="org_roles")
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(_("角色"), max_length=16, choices=RoleKind.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_field: ClassVar[str] = "org__path"

    class Meta:
        verbose_name = _("干部角色")
        verbose_name_plural = _("干部角色")
        constraints = [models.UniqueConstraint(fields=["user", "org", "role"], name="role_unique_per_org")]

    def __str__(self) -> str:
        return f"{self.user} · {self.org} · {self.get_role_display()}"


class Notice(models.Model):
    """A notice a union publishes on its home page (seen by its whole subtree)."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="notices")
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("正文"))
    published_at = models.DateTimeField(_("发布时间"), db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    scope_path_field: ClassVar[str] = "org__path"

    class Meta:
        verbose_name = _("通知公告")
        verbose_name_plural = _("通知公告")
        ordering = ("-published_at", "-id")

    def __str__(self) -> str:
        return self.title
