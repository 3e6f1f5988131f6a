"""Every audit action the code records has a Chinese name in the console's audit log."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from gonghui.console.labels import ACTION_LABELS

# audit.record("member.create", …) and the conditional forms ("a" if x else "b").
ACTION = re.compile(r'"([a-z_]+\.[a-z_]+)"')
CALL = re.compile(r"audit\.record\(\s*(.*?),", re.DOTALL)


def recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in (Path(settings.BASE_DIR) / "gonghui").rglob("*.py"):
        if "tests" in path.parts:
            continue
        for call in CALL.finditer(path.read_text(encoding="utf-8")):
            found.update(ACTION.findall(call.group(1)))
    return found


def test_every_recorded_action_has_a_label() -> None:
    actions = recorded_actions()
    assert len(actions) > 40  # the scan really finds the calls
    assert sorted(actions - set(ACTION_LABELS)) == []
