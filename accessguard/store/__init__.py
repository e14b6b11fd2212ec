"""Per-professional state shared by every process: sessions, last seen, reads."""

from accessguard.store.base import Reservation, Session, Store
from accessguard.store.sqlite import SQLiteStore

__all__ = ["Reservation", "SQLiteStore", "Session", "Store", "open_store"]


def open_store(url: str) -> Store:
    """Open a store from ``sqlite:///path/to/file.db``."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    from accessguard.errors import ConfigurationError

    raise ConfigurationError(f"store: unsupported URL {url!r} (expected sqlite:///PATH)")
