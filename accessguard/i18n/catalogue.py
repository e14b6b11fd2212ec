"""The French catalogue kept in step with the code: what is marked for translation, and what the catalogue lacks.

Marked are: ``{{text}}`` in the page templates, ``language.gettext("text")`` in Python, the detail of a
``Refused`` or ``BadRequest`` written as a literal (shown to people by the pages), and ``t("text")`` in the
pages' script. ``python -m accessguard.i18n`` adds new messages to the catalogue (untranslated) and drops
those no longer used; ``problems`` is what the tests check.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from accessguard.i18n import DOMAIN, LANGUAGES, TEMPLATE_MESSAGE, catalogue_path

_PACKAGE = Path(__file__).parent.parent
_SCRIPT_MESSAGE = re.compile(r"""\bt\(\s*("(?:[^"\\]|\\.)*")""")
_PYTHON_KEYWORDS = {"gettext": None, "N_": None, "_": None, "Refused": (2,), "BadRequest": (1,), "InvalidSession": (1,), "Phrase": (1,)}
#: What a translation must keep as is: template values ($name), script values ({name}).
_PLACEHOLDER = re.compile(r"\$\w+|\{\w+(?:![rsa])?\}")


def marked() -> dict[str, str]:
    """Every message marked for translation, with the first file it is in (relative to the package)."""
    found: dict[str, str] = {}
    for path in sorted(_PACKAGE.rglob("*")):
        where = str(path.relative_to(_PACKAGE))
        for message in _messages(path):
            found.setdefault(message, where)
    return found


def _messages(path: Path) -> Iterator[str]:
    if path.suffix == ".html":
        yield from TEMPLATE_MESSAGE.findall(path.read_text())
    elif path.suffix == ".js":
        yield from (json.loads(literal) for literal in _SCRIPT_MESSAGE.findall(path.read_text()))
    elif path.suffix == ".py" and ".venv" not in path.parts:
        with contextlib.redirect_stderr(io.StringIO()):  # Babel notes each f-string it skips: none is a marked message
            found = list(extract_from_file("python", str(path), keywords=_PYTHON_KEYWORDS))
        yield from (message for _, message, _, _ in found if isinstance(message, str) and message)


@cache
def script_messages() -> tuple[str, ...]:
    """The messages the pages' script shows (``t("text")``): the pages hand it their translations."""
    return tuple(_messages(_PACKAGE / "admin" / "assets" / "accessguard.js"))


def problems() -> list[str]:
    """What is wrong with the catalogues: a marked message missing or untranslated, one no longer used, a placeholder lost."""
    wanted = marked()
    found = []
    for code in LANGUAGES[1:]:
        with catalogue_path(code).open("rb") as po:
            catalogue = read_po(po, locale=code, domain=DOMAIN)
        present = {str(m.id): m for m in catalogue if isinstance(m.id, str) and m.id}
        for message, where in wanted.items():
            entry = present.get(message)
            if entry is None or not entry.string or entry.fuzzy:
                found.append(f"{code}: {message!r} ({where}) has no translation")
            elif sorted(_PLACEHOLDER.findall(message)) != sorted(_PLACEHOLDER.findall(str(entry.string))):
                found.append(f"{code}: the translation of {message!r} changes its placeholders")
        found += [f"{code}: {message!r} is no longer used" for message in present if message not in wanted]
    return found


def update() -> None:
    """Add the newly marked messages to each catalogue (untranslated), drop the unused ones, keep the rest."""
    wanted = marked()
    for code in LANGUAGES[1:]:
        path = catalogue_path(code)
        old: dict[str, str] = {}
        if path.exists():
            with path.open("rb") as po:
                old = {str(m.id): str(m.string) for m in read_po(po, locale=code, domain=DOMAIN) if m.id and not m.fuzzy}
        catalogue = Catalog(locale=code, domain=DOMAIN, project="accessguard", fuzzy=False)
        for message, where in sorted(wanted.items(), key=lambda item: (item[1], item[0])):
            catalogue.add(message, old.get(message, ""), locations=[(where, 0)])
        with path.open("wb") as po:
            write_po(po, catalogue, width=0, omit_header=True, include_lineno=False)
