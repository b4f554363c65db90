"""The web console: server-rendered pages at `/` on the registry's own port (common.py says
how every page is made; pages.py and actions.py are them)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from ...services.keys import Keys
from .common import SECTIONS, SESSIONS, TEMPLATES, SettingsSection, environment, favicon, static
from .pages import home
from .routes import add_routes
from .session import Sessions


def setup(app: web.Application, keys: Keys, sections: tuple[SettingsSection, ...] = (), pages: Sequence = ()) -> None:
    """The console, with the settings sections and the pages (GET path, handler) features add."""
    app[SESSIONS] = Sessions(keys)
    app[SECTIONS] = sections
    for path, handler in pages:
        app.router.add_get(path, handler)
    app[TEMPLATES] = environment()
    app.router.add_get("/", home)
    app.router.add_get("/console/static/{name}", static)
    app.router.add_get("/favicon.ico", favicon)
    add_routes(app.router)
