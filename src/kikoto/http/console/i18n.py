"""The console's languages: message catalogues (messages/<code>.json), chosen by the language
cookie, else the browser's Accept-Language, else English."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LANGUAGES = ("en", "hu")
COOKIE = "kikoto_lang"


@cache
def catalogue(code: str) -> dict[str, str]:
    return json.loads(resources.files(__package__).joinpath(f"messages/{code}.json").read_text("utf-8"))


def choose(cookie: str | None, accept_language: str) -> str:
    if cookie in LANGUAGES:
        return cookie
    ranked = []
    for part in accept_language.split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            ranked.append((float(quality or 1), tag.split("-")[0].lower()))
        except ValueError:
            continue
    for _, code in sorted(ranked, reverse=True):
        if code in LANGUAGES:
            return code
    return "en"


def translator(code: str):
    """t("key", name=...) in the chosen language (English when a key is missing there)."""
    chosen, english = catalogue(code), catalogue("en")

    def t(key: str, **values) -> str:
        text = chosen.get(key) or english.get(key) or key
        return text.format(**values) if values else text

    return t
