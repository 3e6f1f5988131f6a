"""Chinese names for audit actions and object types, and badge colours for statuses."""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext_lazy as _

from gonghui.core.access import RoleKind
from gonghui.members.models import Member
from gonghui.orgs.models import Org, OrgLevel

ACTION_LABELS = {
    "auth.login": _("登录"),
    "auth.login_failed": _("登录失败"),
    "auth.logout": _("退出登录"),
    "auth.otp_verified": _("通过二次验证"),
    "auth.otp_failed": _("二次验证失败"),
    "auth.totp_enrolled": _("绑定动态口令"),
    "auth.recovery_codes_regenerated": _("重新生成恢复码"),
    "auth.totp_reset": _("重置动态口令"),
    "org.create": _("新建组织"),
    "org.update": _("修改组织"),
    "org.move": _("移动组织"),
    "org.tags": _("修改工会标签"),
    "points.adjust": _("调整会员积分"),
    "points.rule": _("设置积分规则"),
    "org.close": _("撤销组织"),
    "org.branding": _("修改门户形象"),
    "role.grant": _("授予角色"),
    "role.revoke": _("撤销角色"),
    "notice.publish": _("发布公告"),
    "broadcast.send": _("群发通知"),
    "broadcast.done": _("群发完成"),
    "broadcast.resume": _("继续群发"),
    "member.create": _("新建会员"),
    "member.update": _("修改会员"),
    "member.pii_reveal": _("查看明文"),
    "member.retain_on_close": _("转入保留会籍"),
    "member.retain": _("保留会籍"),
    "member.restore": _("恢复正常会籍"),
    "member.leave": _("退会"),
    "member.transfer": _("转会"),
    "member.flag_inactive": _("标记长期未活跃"),
    "member.clear_inactive": _("长期未活跃核查完毕"),
    "member.erase": _("删除个人信息"),
    "transfer.request": _("申请转会"),
    "transfer.release": _("同意转出"),
    "transfer.accept": _("接收转入"),
    "transfer.decline": _("不予接收"),
    "transfer.cancel": _("取消转会"),
    "transfer.escalate": _("转会超时督办"),
    "application.submit": _("提交入会申请"),
    "application.approve": _("通过入会申请"),
    "application.reject": _("驳回入会申请"),
    "application.withdraw": _("撤回入会申请"),
    "account.register": _("注册账号"),
    "member.claim": _("关联会员档案"),
    "card.issue": _("发放会员卡号"),
    "card.verify": _("核验会员卡"),
    "card.verifier_grant": _("授予会员卡核验权限"),
    "card.verifier_revoke": _("收回会员卡核验权限"),
    "demo.seed": _("生成演示数据"),
    "org.import": _("导入组织"),
    "import.upload": _("上传会员名册"),
    "import.dry_run": _("会员导入预检"),
    "import.confirm": _("确认导入会员"),
    "import.commit": _("会员导入完成"),
    "import.resume": _("继续会员导入"),
    "import.report_download": _("下载导入错误报告"),
    "member.export": _("导出会员名册"),
    "member.export_unmasked": _("导出会员名册（明文）"),
    "member.export_download": _("下载导出文件"),
    "member.verify": _("实名核验"),
    "member.verify_manual": _("人工实名审核"),
    "verification_batch.start": _("开始批量实名核验"),
    "verification_batch.resume": _("继续批量实名核验"),
    "verification_batch.done": _("批量实名核验完成"),
    "datacheck.run": _("运行数据校验"),
    "datacheck.queue": _("排队运行数据校验"),
    "datafinding.resolved": _("处理校验发现"),
    "datafinding.dismissed": _("忽略校验发现"),
    "activity.create": _("新建活动"),
    "activity.update": _("修改活动"),
    "activity.publish": _("发布活动"),
    "activity.close": _("提前结束活动"),
    "activity.finalise": _("活动结束并生成结果"),
    "activity.archive": _("归档活动"),
    "activity.audience_list": _("设置活动指定名单"),
    "activity.export": _("导出活动数据"),
    "activity_lottery.prize_add": _("添加奖品"),
    "activity_lottery.prize_update": _("修改奖品"),
    "activity_lottery.prize_delete": _("删除奖品"),
    "activity_lottery.commit": _("生成抽奖种子承诺"),
    "activity_lottery.draw": _("开奖"),
    "activity_lottery.redraw": _("逾期未领奖品重抽"),
    "activity_lottery.hand_over": _("兑奖"),
    "activity_vote.candidate_add": _("添加候选人"),
    "activity_vote.candidate_update": _("修改候选人"),
    "activity_vote.candidate_remove": _("删除候选人"),
    "activity_vote.candidate_reorder": _("调整候选人顺序"),
    "activity_vote.export": _("导出投票结果"),
    "activity_signup.cancel": _("取消会员报名"),
    "activity_signup.check_in": _("活动签到"),
    "activity_survey.question_add": _("添加问卷题目"),
    "activity_survey.question_update": _("修改问卷题目"),
    "activity_survey.question_move": _("调整问卷题目顺序"),
    "activity_survey.question_delete": _("删除问卷题目"),
    "activity_rush.item_add": _("添加抢票票种"),
    "activity_rush.item_update": _("修改抢票票种"),
    "activity_rush.item_delete": _("删除抢票票种"),
    "activity_rush.redeem": _("核销抢票兑换码"),
}

OBJECT_TYPES = {
    "orgs.org": _("工会组织"),
    "members.member": _("会员"),
    "members.transfer": _("转会"),
    "orgs.role": _("干部角色"),
    "orgs.notice": _("通知公告"),
    "inbox.broadcast": _("群发通知"),
    "core.user": _("账号"),
    "members.application": _("入会申请"),
}

# Badge tone per status value (see console.css .badge-*).
STATUS_TONES = {
    "active": "green",
    "retained": "amber",
    "left": "grey",
    "closed": "grey",
    "sent": "green",
    "failed": "red",
    "throttled": "amber",
    "queued": "grey",
    "running": "blue",
    "done": "green",
}

LEVEL_TONES = {
    "province": "red",
    "city": "red",
    "district": "blue",
    "street": "blue",
    "grassroots": "green",
    "branch": "teal",
    "group": "teal",
    "industry": "purple",
    "federation": "purple",
}

# Values that appear in audit details, shown in Chinese.
DETAIL_VALUES = {
    "password": _("密码"),
    "sms": _("短信验证码"),
    "totp": _("动态口令"),
    "recovery": _("恢复码"),
    "console": _("管理后台"),
    "portal": _("会员门户"),
    "bad_credentials": _("账号或密码错误"),
    "bad_code": _("验证码错误"),
    "unknown_account": _("账号不存在"),
    "sms_login": _("短信验证码登录"),
    "sms_code": _("短信验证手机"),
    "id_number": _("身份证号"),
    "bank_account": _("银行账号"),
    **dict(OrgLevel.choices),
    **dict(RoleKind.choices),
}


def field_label(name: str) -> str:
    """The Chinese name of a member or org field (audit details list changed fields)."""
    for model in (Member, Org):
        try:
            return str(getattr(model._meta.get_field(name), "verbose_name", name))
        except FieldDoesNotExist:
            continue
    return name
