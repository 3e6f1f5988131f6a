"""The one NinjaAPI instance: routers, auth, error handlers, docs.

Mounted at ``/api/``: endpoints live under ``/api/v1/...``, the OpenAPI document at
``/api/openapi.json`` and the Swagger UI at ``/api/docs`` (assets from Ninja's own static
files, nothing from a CDN: union intranets have no internet).
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI
from ninja.openapi.docs import Swagger
from ninja.renderers import JSONRenderer

from gonghui.activities import plugins
from gonghui.api import (
    activities,
    applications,
    auth,
    cards,
    coupons,
    errors,
    lane,
    mall,
    members,
    messages,
    news,
    orgs,
    points,
    transfers,
)

DESCRIPTION = """\
工会开放接口（第 1 版）。/ The Gonghui open API, version 1.

## 认证 / Authentication

目前只支持工会干部的登录会话：先在干部控制台登录并通过动态口令（TOTP）二次验证，同一浏览器会话即可调用接口。
POST、PATCH 等修改类请求必须带 `X-CSRFToken` 请求头（值取自 `csrftoken` Cookie）。
合作方的 OAuth2 接入将在后续版本提供。

For now the API accepts the session of a cadre who has logged in to the console and passed
the TOTP second factor. Unsafe methods (POST, PATCH) must send the `X-CSRFToken` header
(value of the `csrftoken` cookie). OAuth2 for partners comes in a later version.

- 未登录 / not logged in → `401 AUTH_REQUIRED`
- 已登录但未完成二次验证 / no second factor yet → `401 OTP_REQUIRED`
- 不是工会干部 / not a cadre → `403 CADRE_REQUIRED`
- 缺少或错误的 CSRF 令牌 / missing or wrong CSRF token → `403 CSRF_FAILED`

### 活动通行证（快速通道）/ Activity passes (the hot lane)

投票和抢票这两个最热的会员操作另有快速通道：会员页面打开时以登录会话调用
`POST /api/v1/activities/{id}/pass`（完成全部参加条件检查），得到本人本活动的通行证；此后
`POST /api/v1/activities/{id}/lane/vote`、`…/lane/rush/grab` 带 `Authorization: Bearer <通行证>`，
请求、规则和响应与会话路径的 `…/vote`、`…/rush/grab` 相同，不需要 Cookie 和 CSRF 令牌。
通行证无效、过期或不属于该活动 → `401 PASS_INVALID`，重新获取即可。

The two hottest member actions have a hot lane: the member's page calls `POST
/api/v1/activities/{id}/pass` with the session (the whole eligibility check) and gets a
pass for that member and activity; the lane's `…/lane/vote` and `…/lane/rush/grab` take
it as `Authorization: Bearer <pass>` — same bodies, rules and answers as the session
path, no cookie, no CSRF token. A bad, expired or foreign pass is `401 PASS_INVALID`.

## 错误格式 / Errors

所有错误都以 JSON 返回 / every error is JSON:

```json
{"code": "MEMBER_EXISTS", "message": "该身份证号已是会员（…）。", "details": {"member_id": 42}}
```

`code` 是稳定的错误代码，程序应以它判断；`message` 是给人看的中文说明，措辞可能调整；`details` 仅在有用时出现
（例如参数校验失败时列出出错的字段）。`code` is stable, `message` is Chinese prose that
may be reworded, `details` appears when useful (e.g. the failing fields of a `422
VALIDATION_ERROR`). Common codes: `NOT_FOUND` (404), `VALIDATION_ERROR` (422),
`METHOD_NOT_ALLOWED` (405), `INTERNAL_ERROR` (500), and the domain codes such as
`ID_BAD_CHECK_CHAR`, `ID_PRECISION_LOSS`, `MEMBER_EXISTS` (409), `ORG_BAD_LEVEL`.

## 管辖范围 / Scoping

干部在某个组织上的角色覆盖该组织的全部下级。管辖范围以外的对象一律返回 `404 NOT_FOUND`，与不存在的对象无法区分；
没有某项操作权限（如查看明文）时同样返回 404。

A cadre's role on an org covers that org's whole subtree. Anything outside it answers
`404 NOT_FOUND`, indistinguishable from an object that does not exist; so does an object
the caller may see but lacks the right to act on (e.g. revealing an ID number).

## 个人信息 / Personal data

身份证号、手机号、银行账号只以脱敏形式返回；查看明文须调用 `POST /api/v1/members/{id}/reveal` 并填写原因，
每次查看写入审计日志。ID numbers, mobiles and bank accounts are returned masked; the
plaintext comes only from the reveal endpoint, which records an audit row each time.
"""

TAGS = [
    {"name": "工会组织 orgs", "description": "工会组织树：列表、详情、下级、新建、修改、移动、撤销 / the union tree"},
    {"name": "会员 members", "description": "会员档案（脱敏）、新建、修改、查看明文 / member records, masked"},
    {"name": "转会 transfers", "description": "转会：发起、同意转出、接收、不予接收、取消 / transfers between unions"},
    {"name": "会籍 membership", "description": "保留会籍、恢复、退会、会籍记录 / retain, restore, leave, history"},
    {"name": "账号 account", "description": "当前调用者 / the caller"},
    {
        "name": "入会申请 applications",
        "description": "网上入会：申请人提交，干部审批（通过发卡 / 驳回说明原因）/ joining online and its approval",
    },
    {"name": "消息 messages", "description": "我的消息、未读数；干部群发通知及进度 / inbox and broadcasts"},
    {"name": "会员卡 cards", "description": "电子会员卡与二维码核验 / e-member card and its QR check"},
    {
        "name": "券 coupons",
        "description": "我的券；商户查询与核销（恰好一次，支持 Idempotency-Key）；干部的券模板、发券、批量发放与统计"
        " / coupon wallet, merchant redemption, cadre templates, issuing and reports",
    },
    {
        "name": "活动 activities",
        "description": "活动：主办方新建、修改、发布、提前结束、归档、参与统计、指定名单；会员查看面向我的活动、"
        "能否参加及原因、我参加过的活动 / activities: organisers and members",
    },
    {
        "name": "资讯 news",
        "description": "资讯：会员阅读所在工会及上级工会的资讯，读满规定时间领取阅读积分；"
        "干部撰写、发布（可定时）、撤回、置顶 / news for members and cadres",
    },
    {
        "name": "积分商城 mall",
        "description": "积分商城：会员查看可兑换商品、兑换下单（必须带 Idempotency-Key）、我的订单、发货前取消；"
        "干部管理商品与库存、卡密，查看订单、发货、凭取货码确认领取、取消并退回积分 / the points mall",
    },
    {
        "name": "积分 points",
        "description": "积分：我的余额与明细、每日签到；干部查看与设置积分规则、查看会员积分、发放或扣减"
        "（需 Idempotency-Key）/ points",
    },
]


class ChineseJSONRenderer(JSONRenderer):
    # Readable Chinese in bodies (and a third of the bytes of \\uXXXX escapes).
    json_dumps_params = {"ensure_ascii": False}


class GonghuiAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Any) -> str:
        # Every operation names its id explicitly; this only covers one that forgets.
        return str(operation.view_func.__name__)


api = GonghuiAPI(
    title="Gonghui 工会开放接口",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=auth.CadreSessionAuth(),
    renderer=ChineseJSONRenderer(),
    # validatorUrl: Swagger UI would otherwise send the spec to validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
    openapi_extra={"tags": TAGS},
)
errors.install(api)

api.add_router("/v1/orgs", orgs.router)
api.add_router("/v1/members", members.router)
api.add_router("/v1/members", transfers.member_router)
api.add_router("/v1/transfers", transfers.router)
api.add_router("/v1/me", auth.router)
api.add_router("/v1/applications", applications.router)
api.add_router("/v1/cards", cards.router)
api.add_router("/v1/me/card", cards.me_router)
api.add_router("/v1/me/messages", messages.me_router)
api.add_router("/v1/broadcasts", messages.broadcast_router)
api.add_router("/v1/me/news", news.me_router)
api.add_router("/v1/news", news.router)
api.add_router("/v1/me/points", points.me_router)
api.add_router("/v1/points", points.router)
api.add_router("/v1/mall/manage", mall.router)
api.add_router("/v1/mall", mall.shop_router)
api.add_router("/v1/me/mall", mall.me_router)
api.add_router("/v1/me/coupons", coupons.me_router)
api.add_router("/v1/merchant", coupons.merchant_router)
api.add_router("/v1/coupons", coupons.router)
api.add_router("/v1/activities", activities.router)
api.add_router("/v1/activities", lane.router)
# Each activity kind's own router (api.activity_<key>.router), found by convention.
for _key, _module in plugins.kind_modules("gonghui.api"):
    api.add_router("/v1/activities", _module.router)
