"""Per-professional state shared by every process: sessions, last seen, reads."""

from accessguard.errors import ConfigurationError
from accessguard.store.base import ReadRequest, Reservation, Session, Store
from accessguard.store.sqlite import SQLiteStore

__all__ = ["ReadRequest", "Reservation", "SQLiteStore", "Session", "Store", "open_store"]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(url: str) -> Store:
    """Open a store from ``sqlite:///path/to/file.db`` or ``redis://host:port/db`` (also ``rediss://``, ``unix://``)."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(REDIS_SCHEMES):
        from accessguard.store.redis import RedisStore

        return RedisStore(url)
    raise ConfigurationError(f"store_url: unsupported URL {url!r} (expected sqlite:///PATH or redis://HOST:PORT/DB)")
