"""Token stores and the URL scheme that picks one (``memory://``, ``sqlite:///…``)."""

from __future__ import annotations

from .base import Broadcast, Store
from .factory import default_store_url, open_store

__all__ = ["Broadcast", "Store", "default_store_url", "open_store"]
