"""SQLite URIs for paths of any spelling.

SQLite reads ``file:`` URIs with ``?`` starting the parameters and ``#`` the
fragment, and decodes ``%XX``: a path pasted into ``f"file:{path}?mode=ro"``
is misread as soon as a directory name holds one of them (``/srv/ward#2``
opens ``/srv/ward``). Every URI accessguard gives SQLite is built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal


def sqlite_uri(path: Path | str, mode: Literal["ro", "rw", "rwc"]) -> str:
    """The ``file:`` URI of ``path`` (made absolute, every special character percent-encoded) opened in ``mode``."""
    return f"{Path(path).absolute().as_uri()}?mode={mode}"
