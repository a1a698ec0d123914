"""English, Estonian and Japanese (docs/spec/portal.md §6).

Messages are written in English in the templates (``{{ _("My data") }}``); each language
has ``locales/<lang>/<area>.json`` files, flat JSON objects mapping the English message to
its translation. Every ``*.json`` of a language is loaded; a message with no translation
is shown in English. The language comes from ``?lang=`` (then kept in a cookie), the
``sild_lang`` cookie, or ``Accept-Language`` (RFC 9110 §12.5.4, quality values honoured).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

__all__ = ["LANGUAGES", "Translations", "choose_language"]

LANGUAGES = ("en", "et", "ja")
DEFAULT = "en"
_ROOT = Path(__file__).parent / "locales"


class Translations:
    def __init__(self, root: Path = _ROOT) -> None:
        self.messages: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            table: dict[str, str] = {}
            for path in sorted((root / lang).glob("*.json")):
                data = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    raise ValueError(f"{path} is not a JSON object")
                table.update({str(k): str(v) for k, v in data.items()})
            self.messages[lang] = table

    def gettext(self, lang: str) -> Callable[[str], str]:
        table = self.messages.get(lang, {})

        def _(message: str) -> str:
            return table.get(message) or message
        return _


def _accept(header: str) -> list[str]:
    """Language tags of ``Accept-Language``, best first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def choose_language(query: str | None, cookie: str | None, accept: str) -> str:
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    for tag in _accept(accept):
        base = tag.split("-")[0]
        if base in LANGUAGES:
            return base
    return DEFAULT
