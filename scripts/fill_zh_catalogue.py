"""Chinese is the source language: make the zh_Hans catalogue the identity mapping.

`makemessages` leaves msgstr empty; an empty msgstr already falls back to the msgid,
but a complete catalogue lets `compilemessages` and translators see that every string
is covered. English translations are kept by hand in locale/en.
"""

import sys
from pathlib import Path

import polib

path = Path(sys.argv[1] if len(sys.argv) > 1 else "gonghui/locale/zh_Hans/LC_MESSAGES/django.po")
catalogue = polib.pofile(str(path))
for entry in catalogue:
    if entry.msgid_plural:
        entry.msgstr_plural = {0: entry.msgid}
    else:
        entry.msgstr = entry.msgid
    if "fuzzy" in entry.flags:
        entry.flags.remove("fuzzy")
catalogue.save()
print(f"{path}: {len(catalogue)} entries")
