"""French and English: the language of a request, its translations, and times in the configured time zone.

The language is the best match of the request's ``Accept-Language`` among ``LANGUAGES``, else
``Settings.default_locale``. Messages are English in the code and templates; the French catalogue
(``locales/fr/LC_MESSAGES/accessguard.po``, kept in step by ``python -m accessguard.i18n``) is read once
when the guard is built, so a request reads no file. Reason codes are never translated, only what
explains them to a person.
"""

from __future__ import annotations

import datetime
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, negotiate_locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from accessguard.errors import ConfigurationError

if TYPE_CHECKING:  # facts.py reads untrusted input, whose messages are marked with N_ from here
    from accessguard.facts import RequestFacts

#: The languages pages and messages are written in; English is the language of the code.
LANGUAGES = ("en", "fr")
DOMAIN = "accessguard"
CATALOGUES = Path(__file__).parent / "locales"
#: ``{{text}}`` in a page template: the text is translated when the template is loaded.
TEMPLATE_MESSAGE = re.compile(r"\{\{(.+?)\}\}", re.DOTALL)
#: How a time is shown: unambiguous and sortable in both languages, with the zone it is in.
TIME_PATTERN = "yyyy-MM-dd HH:mm z"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue where it is defined; it is translated where it is shown."""
    return message


def catalogue_path(code: str) -> Path:
    return CATALOGUES / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@dataclass(frozen=True)
class Language:
    """One language of the pages: its translations and the time zone times are shown in."""

    code: str
    translations: NullTranslations
    zone: ZoneInfo

    def gettext(self, message: str) -> str:
        """``message`` (English) in this language; English when the catalogue lacks it."""
        return self.translations.gettext(message)

    def template(self, text: str) -> Template:
        """A page template's text in this language: each ``{{text}}`` replaced by its translation."""
        return Template(TEMPLATE_MESSAGE.sub(lambda marked: self.gettext(marked.group(1)), text))

    def when(self, epoch: float | None) -> str:
        """A time in the configured zone, or "never"."""
        if not epoch:
            return self.gettext("never")
        moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
        return format_datetime(moment, TIME_PATTERN, tzinfo=self.zone, locale=Locale.parse(self.code))


class Languages:
    """The languages of one guard, built from ``Settings`` (``default_locale``, ``time_zone``) at start-up."""

    def __init__(self, default: str, time_zone: str) -> None:
        if default not in LANGUAGES:
            raise ConfigurationError(f"default_locale: {default!r} is not one of {', '.join(LANGUAGES)}")
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"time_zone: {time_zone!r} is not an IANA time zone such as Europe/Paris") from None
        self.default = default
        self._languages = {code: Language(code, _translations(code), zone) for code in LANGUAGES}
        self.of = lru_cache(maxsize=256)(self._negotiate)

    def of_request(self, facts: RequestFacts) -> Language:
        """The language of a request's pages and messages (its ``Accept-Language``, else the default)."""
        return self.of(facts.headers.get("accept-language"))

    def _negotiate(self, accept_language: str | None) -> Language:
        """The language for an ``Accept-Language`` value (``fr-CA`` is French; none that fits: the default)."""
        chosen = negotiate_locale(_preferred(accept_language or ""), LANGUAGES, sep="-")
        return self._languages[chosen or self.default]


def _preferred(accept_language: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (RFC 9110 §12.5.4); ``q=0`` means not wanted."""
    ranked = []
    for position, item in enumerate(accept_language[:512].split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def _translations(code: str) -> NullTranslations:
    """The compiled catalogue of ``code`` (English needs none); untranslated and fuzzy entries stay English."""
    path = catalogue_path(code)
    if not path.exists():
        return NullTranslations()
    compiled = io.BytesIO()
    with path.open("rb") as po:
        write_mo(compiled, read_po(po, locale=code, domain=DOMAIN))
    compiled.seek(0)
    return Translations(compiled, DOMAIN)
