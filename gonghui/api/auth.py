"""Who may call the API: cadres, through their console session, after the second factor.

Partners will authenticate with OAuth2 in a later issue; they will be a second auth
callback beside this one. That is why this class *declines* (returns ``None``) rather
than raising when the session does not qualify: Ninja then tries the next callback, and
only when every one declined answers 401, naming the reason this class recorded.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.security import APIKeyCookie
from ninja.utils import check_csrf

from gonghui.api.errors import AUTH_FAILURE_ATTR, ApiError, responses
from gonghui.core.access import grants, is_cadre
from gonghui.core.models import User
from gonghui.members import selectors as member_selectors
from gonghui.members.models import Member
from gonghui.orgs.models import Org


class AccountSessionAuth(APIKeyCookie):
    """The Django session of any logged-in account (member, applicant, merchant, cadre).

    CSRF is checked for unsafe methods, as Ninja's ``SessionAuth`` does, but only once the
    session is known to belong to a qualifying user: a request that carries no usable
    session (say, a partner's bearer token later) is not the target of a CSRF attack and
    must reach the next auth callback instead of failing here.
    """

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = (
        "会员门户或干部控制台的登录会话；非安全方法需带 X-CSRFToken 请求头"
        " / The portal or console session cookie; unsafe methods need the X-CSRFToken header."
    )

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def refusal(self, user: Any) -> str | None:
        """The error code that disqualifies this logged-in ``user``, or None."""
        return None

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        failure = "AUTH_REQUIRED" if not user.is_authenticated else self.refusal(user)
        if failure:
            setattr(request, AUTH_FAILURE_ATTR, failure)
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request) is not None:
            raise ApiError(403, "CSRF_FAILED", "CSRF 校验失败：请刷新页面后重试，并在请求头中带上 X-CSRFToken。")
        return user


class CadreSessionAuth(AccountSessionAuth):
    """The session of a cadre who has passed TOTP (django-otp's ``is_verified``)."""

    openapi_description = (
        "干部控制台的登录会话（需已通过动态口令二次验证）；非安全方法需带 X-CSRFToken 请求头"
        " / The cadre console session cookie (second factor passed); unsafe methods need the"
        " X-CSRFToken header."
    )

    def refusal(self, user: Any) -> str | None:
        if not is_cadre(user):
            return "CADRE_REQUIRED"
        is_verified = getattr(user, "is_verified", None)
        if not callable(is_verified) or not is_verified():
            return "OTP_REQUIRED"
        return None


def current_user(request: HttpRequest) -> User:
    """The authenticated caller (set by the router's auth class: a cadre under ``CadreSessionAuth``)."""
    user = getattr(request, "auth", None)
    if not isinstance(user, User):  # the auth class guarantees it; be loud if not
        raise ApiError(401, "AUTH_REQUIRED", "请先登录")
    return user


def caller_member(request: HttpRequest) -> Member | None:
    """The caller's member record (None for an account without one); 401 without a login.
    Read once per request (``members.selectors.of_account``)."""
    return member_selectors.of_account(current_user(request))


def require_member(request: HttpRequest, status: int = 403) -> Member:
    """The caller's member record; ``status`` ``NOT_A_MEMBER`` for an account without one."""
    member = caller_member(request)
    if member is None:
        raise ApiError(status, "NOT_A_MEMBER", "当前账号还没有关联会员档案。")
    return member


router = Router(tags=["账号 account"])


class RoleOut(Schema):
    org_id: int = Field(..., description="组织 ID")
    org_name: str = Field(..., description="组织名称")
    role: str = Field(..., description="角色：chair 主席、admin 管理员、staff 干事、auditor 审计员")


class MeOut(Schema):
    id: int = Field(..., description="用户 ID")
    username: str = Field(..., description="登录名")
    name: str = Field(..., description="姓名")
    roles: list[RoleOut] = Field(..., description="在各组织上担任的角色；权限覆盖该组织的全部下级")


@router.get("", response={200: MeOut, **responses()}, operation_id="get_me", summary="当前登录的干部及其角色")
def get_me(request: HttpRequest) -> MeOut:
    """返回当前调用者及其角色。角色决定可访问的组织子树。

    Returns the caller and their roles; each role covers that org's whole subtree.
    """
    user = current_user(request)
    user_grants = grants(user)
    names = dict(Org.objects.filter(pk__in=[g.org_id for g in user_grants]).values_list("pk", "name"))
    return MeOut(
        id=user.pk,
        username=user.username,
        name=user.name,
        roles=[RoleOut(org_id=g.org_id, org_name=names.get(g.org_id, ""), role=g.role) for g in user_grants],
    )


class OptionalSessionAuth(AccountSessionAuth):
    """The caller's session when there is one; a visitor without one passes too.

    For public reads (an activity's page): the answer then says ``NOT_A_MEMBER``.
    """

    openapi_description = (
        "可选：会员门户或干部控制台的登录会话；不带会话时以访客身份调用"
        " / Optional: the portal or console session cookie; without it the caller is a visitor."
    )

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        # AnonymousUser is truthy: Ninja takes it as "authenticated" and the view decides.
        return request.user


optional_auth = OptionalSessionAuth()
