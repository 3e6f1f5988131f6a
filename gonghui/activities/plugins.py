"""How each interface finds a kind's own module (views, API router) by convention.

A kind ``<key>`` may ship, besides its domain app:

- ``gonghui.portal.views.activity_<key>``: ``urlpatterns`` (member actions, named
  ``portal:activity_<key>_…``) and ``panel_context(request, activity, member) -> dict``
  for the template ``portal/activities/<key>/panel.html`` that the generic activity page
  includes;
- ``gonghui.console.views.activity_<key>``: ``urlpatterns`` (organiser pages, named
  ``console:activity_<key>_…``), ``manage_links(activity) -> list[tuple[str, str]]`` shown
  on the activity's console page, and ``results_context(request, activity) -> dict`` for
  ``console/activities/<key>/results.html``;
- ``gonghui.api.activity_<key>``: a Ninja ``router`` mounted at ``/api/v1/activities/``.

This module only finds those modules (interfaces call it with their package name); it
imports nothing from an interface itself.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from types import ModuleType

from gonghui.activities import registry


def kind_module(package: str, key: str) -> ModuleType | None:
    name = f"{package}.activity_{key}"
    if find_spec(name) is None:
        return None
    return import_module(name)


def kind_modules(package: str) -> list[tuple[str, ModuleType]]:
    found = []
    for kind in registry.all_kinds():
        module = kind_module(package, kind.key)
        if module is not None:
            found.append((kind.key, module))
    return found
