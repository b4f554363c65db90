"""The console's message catalogues: every language has every message, and every message a
template asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

from kikoto.http.console import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"
PAGES = Path(i18n.__file__).parent / "pages.py"


def test_every_language_has_every_message():
    english = set(i18n.catalogue("en"))
    for code in i18n.LANGUAGES:
        assert set(i18n.catalogue(code)) == english, code


def test_every_message_used_exists():
    used = set()
    for path in [*TEMPLATES.glob("*.html"), PAGES]:
        used |= set(re.findall(r'\bt\(\s*["\']([a-z_.\-]+)["\']', path.read_text()))
        used |= set(re.findall(r'translator\([^)]*\)\(\s*"([a-z_.\-]+)"', path.read_text()))
    missing = {key for key in used if key not in i18n.catalogue("en") and not key.endswith(".")}
    assert not missing, missing


def test_the_language_follows_the_cookie_then_the_browser():
    assert i18n.choose(None, "hu-HU,hu;q=0.9,en;q=0.8") == "hu"
    assert i18n.choose(None, "de-DE,en;q=0.5") == "en"
    assert i18n.choose("hu", "en-US") == "hu"
    assert i18n.choose("xx", "") == "en"
