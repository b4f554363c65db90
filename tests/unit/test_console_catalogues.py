"""The console's message catalogues: every language has every message, and every message a
template asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

from kikoto.http.console import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"
MODULES = sorted(
    p for p in Path(i18n.__file__).parent.glob("*.py") if p.name != "i18n.py"
)  # its docstring shows t("key")


def test_every_language_has_every_message():
    english = set(i18n.catalogue("en"))
    for code in i18n.LANGUAGES:
        assert set(i18n.catalogue(code)) == english, code


def test_every_message_used_exists():
    used = set()
    for path in [*TEMPLATES.glob("*.html"), *MODULES]:
        used |= set(re.findall(r'\bt\(\s*["\']([a-z_.\-]+)["\']', path.read_text()))
        used |= set(re.findall(r'translator\([^)]*\)\(\s*"([a-z_.\-]+)"', path.read_text()))
    missing = {key for key in used if key not in i18n.catalogue("en") and not key.endswith(".")}
    assert not missing, missing


def test_the_language_follows_the_cookie_then_the_browser():
    assert i18n.choose(None, "hu-HU,hu;q=0.9,en;q=0.8") == "hu"
    assert i18n.choose(None, "de-DE,en;q=0.5") == "en"
    assert i18n.choose("hu", "en-US") == "hu"
    assert i18n.choose("xx", "") == "en"


def test_every_word_made_from_a_code_exists():
    """Messages whose keys are built from a value: each value the code can give has its words."""
    from kikoto.domain import lifecycle
    from kikoto.domain.manifests import KINDS
    from kikoto.http.console import settings

    keys = {f"lifecycle.reason.{code}" for code in lifecycle.REASONS}
    keys |= {f"lifecycle.action.{a}" for a in (*lifecycle.ACTIONS, "keep")}
    keys |= {f"lifecycle.select.{s}" for s in (*lifecycle.TAG_STATUS, "patterns", "prefixes", "archived")}
    keys |= {f"lifecycle.count.{c}" for c in lifecycle.COUNT_TYPES}
    keys |= {f"kind.{k}" for _, k in KINDS} | {"kind.index", "kind.artifact"}
    keys |= {f"templates.applied.{a}" for a in settings.APPLIED_FOR}
    for code in i18n.LANGUAGES:
        missing = keys - set(i18n.catalogue(code))
        assert not missing, (code, missing)
