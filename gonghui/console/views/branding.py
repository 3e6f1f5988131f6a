"""门户形象: a union's logo, banner, colour and introduction, with a live preview.

The preview copies the look of the union's home page header in the portal (the
``.hero`` of portal.css) under its own class names, so the console shows what members
will see without loading the portal's stylesheet or views. The colour arithmetic is the
portal's own (``orgs.branding.theme_for``), so preview and portal cannot disagree.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gonghui.console.forms import BRANDING_ERROR_FIELDS, BrandingForm
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.orgs import actions
from gonghui.orgs.actions import BRANDING_MAX_BYTES
from gonghui.orgs.branding import monogram, theme_for
from gonghui.orgs.models import Org

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")

# Colours offered as one-click choices beside the colour picker (all readable with white text).
SWATCHES = (
    ("#c8161d", gettext_lazy("工会红")),
    ("#9b1016", gettext_lazy("深红")),
    ("#c2410c", gettext_lazy("橙色")),
    ("#0e7a4d", gettext_lazy("绿色")),
    ("#0b6e74", gettext_lazy("青色")),
    ("#1552c6", gettext_lazy("蓝色")),
    ("#6b3fb8", gettext_lazy("紫色")),
    ("#2b313b", gettext_lazy("墨色")),
)


class _Refused(Exception):
    """One or more parts of a save were refused; ``errors`` maps a form field (or None) to why."""

    def __init__(self, errors: dict[str | None, DomainError]) -> None:
        super().__init__(errors)
        self.errors = errors


def _save(user: Any, org: Org, form: BrandingForm) -> None:
    """Colour and introduction, then each image, as one change: all of it or none of it.

    Each image goes through ``set_branding`` on its own so that a refusal lands on the
    right file input, and a bad logo and a bad banner are both reported at once.
    """
    data = form.cleaned_data
    errors: dict[str | None, DomainError] = {}
    with transaction.atomic():
        try:
            actions.update_org(actor=user, org=org, values={"theme_color": data["theme_color"], "intro": data["intro"]})
        except DomainError as exc:
            errors[BRANDING_ERROR_FIELDS.get(exc.code)] = exc
        for name in ("logo", "banner"):
            try:
                with transaction.atomic():
                    actions.set_branding(
                        actor=user, org=org, **{name: data[name] or None, f"clear_{name}": data[f"clear_{name}"]}
                    )
            except DomainError as exc:
                errors[name] = exc
        if errors:
            raise _Refused(errors)


@cadre_required
def org_branding(request: HttpRequest, org_id: int) -> HttpResponse:
    user = cadre(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ORG_CHANGE, pk=org_id)
    form = BrandingForm(
        request.POST or None,
        request.FILES or None,
        initial={"theme_color": org.theme_color, "intro": org.intro},
    )
    if not org.is_active:
        form.add_error(None, _("该组织已撤销，不能再修改。"))
    elif request.method == "POST" and form.is_valid():
        try:
            _save(user, org, form)
        except _Refused as refused:
            org.refresh_from_db()  # the actions changed the in-memory row before the rollback
            for field, exc in refused.errors.items():
                form.add_error(field, exc.message)
            # A browser cannot refill a file input: say so, or the good image seems lost.
            form.add_error(None, _("本次修改均未保存。请修正标红的项目；已选择的图片需要重新选择。"))
        else:
            messages.success(request, _("已保存 %(name)s 的门户形象，会员刷新首页即可看到。") % {"name": org.name})
            return redirect("console:org_branding", org.pk)

    # The preview shows what is on the form: a colour or text just submitted (even with
    # an image rejected) stays in view; the images shown are the saved ones.
    shown_color = str(form["theme_color"].value() or "")
    context = {
        "org": org,
        "form": form,
        "theme": theme_for(Org(theme_color=shown_color if _HEX.match(shown_color) else org.theme_color)),
        "monogram": monogram(org),
        "intro": str(form["intro"].value() or ""),
        "swatches": SWATCHES,
        "max_bytes": BRANDING_MAX_BYTES,
    }
    return page(request, "console/org_branding.html", context, section="orgs", status=400 if form.errors else 200)
