"""Page-numbered lists in the API: one way to cut a queryset into pages and describe them."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from ninja import Field, Schema


class PageMeta(Schema):
    """The fields every page-numbered list answers with beside its ``items``."""

    page: int = Field(..., description="页码（从 1 开始；超出范围时为最后一页）")
    pages: int = Field(..., description="总页数")
    total: int = Field(..., description="总条数")


def paginate(rows: Any, page: int, size: int) -> tuple[list[Any], dict[str, int]]:
    """Page ``page`` (1-based, clamped to the last page) of ``rows`` at ``size`` per page,
    and the ``page`` / ``pages`` / ``total`` values of :class:`PageMeta`."""
    paginator: Paginator[Any] = Paginator(rows, size)
    current = paginator.get_page(page)
    return list(current.object_list), {"page": current.number, "pages": paginator.num_pages, "total": paginator.count}
