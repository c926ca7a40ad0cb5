"""State that outlives a call: conversations and spending, in memory, in a SQLite file, or in Redis/Valkey."""

from mcp_server.state.base import Bounds, Record, Spent, Store, StoreError
from mcp_server.state.opening import open_store

__all__ = ["Bounds", "Record", "Spent", "Store", "StoreError", "open_store"]
