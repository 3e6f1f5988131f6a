"""投票 (vote): the kind's registration with the Activity component."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind


class VoteKind(ActivityKind):
    key = "vote"
    label = _("投票")
    description = _("单选或多选投票、评选，支持无记名投票与回执核验。")
    once_per_member = True


KIND = VoteKind()
