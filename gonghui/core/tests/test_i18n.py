"""Chinese is the source language; English is a complete, compiled catalogue beside it.

The page tests prove the switch works end to end (cookie and Accept-Language both reach
our own strings, not only Django's). The catalogue tests keep the English usable as
others add strings: nothing untranslated or fuzzy (either silently shows Chinese), the
placeholders and markup of each msgid survive translation (a lost ``%(name)s`` raises at
render time), and the committed .mo files say what the .po files say, because a fresh
machine without gettext runs on the committed .mo files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

LOCALE_DIR = Path(settings.LOCALE_PATHS[0])
CATALOGUES = {lang: LOCALE_DIR / lang / "LC_MESSAGES" / "django.po" for lang in ("en", "zh_Hans")}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# The one Chinese character an English page may keep: the brand glyph 工, decorative and
# hidden from assistive technology.
DECORATIVE_GLYPH = re.compile(r'aria-hidden="true">工<')

# Printf directives (python-format; ``%%`` included, since templates double a literal %),
# brace fields (python-brace-format) and HTML tags must come through a translation intact.
PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
BRACE = re.compile(r"(?<!\{)\{[^{}]*\}(?!\})")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


@pytest.fixture(autouse=True)
def _restore_language() -> Iterator[None]:
    # LocaleMiddleware activates the request's language in this thread and leaves it
    # active; later tests that call gettext outside a request expect the default.
    language = translation.get_language()
    yield
    translation.activate(language or settings.LANGUAGE_CODE)


def _english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


# --- pages -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_is_english_with_the_language_cookie(client: Client) -> None:
    body = _english(client).get("/login/").content.decode()

    assert '<html lang="en">' in body
    assert "Get code" in body
    assert "Member login" in body
    assert "获取验证码" not in body


@pytest.mark.django_db
def test_password_login_tab_is_english_with_the_language_cookie(client: Client) -> None:
    body = _english(client).get("/login/?tab=password").content.decode()

    assert "Username or mobile number" in body
    assert "登录名或手机号" not in body


@pytest.mark.django_db
def test_landing_page_is_english_when_the_browser_asks_for_english(client: Client) -> None:
    body = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").content.decode()

    assert '<html lang="en">' in body
    assert "What you can do here" in body
    assert "Member login" in body
    assert "在这里可以" not in body


@pytest.mark.django_db
def test_console_login_page_is_english_with_the_language_cookie(client: Client) -> None:
    body = _english(client).get("/console/login/").content.decode()

    assert '<html lang="en">' in body
    assert "Union cadre login" in body
    assert "工会干部登录" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/login/", "/login/?tab=password", "/console/login/", "/console/login/?tab=sms"])
def test_english_pages_keep_no_chinese_text(client: Client, url: str) -> None:
    # With no unions in the database these pages hold only our own strings, so any
    # Chinese left is a string nobody marked for translation.
    body = _english(client).get(url).content.decode()

    leftover = CJK.findall(DECORATIVE_GLYPH.sub("", body))

    assert leftover == [], f"{url}: untranslated text {''.join(leftover)!r}"


@pytest.mark.django_db
def test_login_page_is_chinese_by_default(client: Client) -> None:
    body = client.get("/login/").content.decode()

    assert '<html lang="zh-hans">' in body
    assert "获取验证码" in body
    assert "Get code" not in body


@pytest.mark.django_db
def test_landing_page_is_chinese_by_default_even_for_an_unknown_browser_language(client: Client) -> None:
    body = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()

    assert '<html lang="zh-hans">' in body
    assert "在这里可以" in body
    assert "What you can do here" not in body


# --- catalogues ------------------------------------------------------------------------


def _catalogue(lang: str) -> polib.POFile:
    return polib.pofile(str(CATALOGUES[lang]))


def _live(catalogue: polib.POFile) -> list[polib.POEntry]:
    return [entry for entry in catalogue if not entry.obsolete]


def _label(entry: polib.POEntry) -> str:
    return f"{entry.msgid!r} ({', '.join(f'{f}:{n}' for f, n in entry.occurrences[:2])})"


def _translations(entry: polib.POEntry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[k] for k in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_catalogue_declares_utf8(lang: str) -> None:
    catalogue = _catalogue(lang)

    assert "charset=UTF-8" in catalogue.metadata["Content-Type"]
    assert not catalogue.metadata_is_fuzzy


def test_every_english_entry_is_translated_and_not_fuzzy() -> None:
    entries = _live(_catalogue("en"))

    untranslated = [_label(e) for e in entries if not all(_translations(e))]
    fuzzy = [_label(e) for e in entries if "fuzzy" in e.flags]

    assert entries, "the English catalogue is empty: run `make messages`"
    assert untranslated == []
    assert fuzzy == []


def test_english_translations_are_english() -> None:
    # A msgstr still carrying Chinese is a msgid copied over, not a translation.
    chinese = [_label(e) for e in _live(_catalogue("en")) for s in _translations(e) if CJK.search(s)]

    assert chinese == []


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_placeholders_and_markup_survive_translation(lang: str) -> None:
    mismatched = []
    for entry in _live(_catalogue(lang)):
        for index, translated in enumerate(_translations(entry)):
            source = entry.msgid_plural if entry.msgid_plural and index > 0 else entry.msgid
            for pattern in (PRINTF, BRACE, TAG):
                expected = Counter(pattern.findall(source))
                found = Counter(pattern.findall(translated))
                if entry.msgid_plural:
                    # A plural form may leave out the count (English "one item").
                    expected.pop("%(count)s", None)
                    found.pop("%(count)s", None)
                if expected != found:
                    mismatched.append(f"{_label(entry)}: {sorted(expected)} vs {sorted(found)} in {translated!r}")

    assert mismatched == []


def test_chinese_catalogue_is_the_identity_mapping() -> None:
    def identity(e: polib.POEntry) -> bool:
        if e.msgid_plural:  # zh_Hans has one plural form (nplurals=1)
            return list(e.msgstr_plural.values()) == [e.msgid]
        return e.msgstr == e.msgid

    different = [_label(e) for e in _live(_catalogue("zh_Hans")) if not identity(e) or "fuzzy" in e.flags]

    assert different == [], "run `make messages` (scripts/fill_zh_catalogue.py fills zh_Hans)"


def test_both_catalogues_hold_the_same_strings() -> None:
    def keys(lang: str) -> set[tuple[str | None, str]]:
        return {(e.msgctxt, e.msgid) for e in _live(_catalogue(lang))}

    assert keys("en") == keys("zh_Hans")


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_compiled_catalogue_matches_its_source(lang: str) -> None:
    def translations(entries: list[polib.POEntry] | polib.MOFile) -> dict[tuple[str | None, str], tuple[str, ...]]:
        return {
            (e.msgctxt, e.msgid): tuple(_translations(e))
            for e in entries
            if e.msgid and not e.obsolete and "fuzzy" not in e.flags and all(_translations(e))
        }

    mo_path = CATALOGUES[lang].with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run `make messages`"

    source = translations(_live(_catalogue(lang)))
    compiled = translations(polib.mofile(str(mo_path)))

    assert compiled == source, f"{mo_path} is stale: run `make messages` (or compilemessages)"
