"""State that outlives a call: conversations and spending, in memory, in a SQLite file, or in Redis/Valkey.

The modules, in the order a call passes through them:

    conversations.py   conversation history by id, for its owner, one turn at a time, bounded in turns and bytes
    opening.py         which backend DEEPSEEK_MCP_STATE names, opened on first use
    base.py            the interface every backend implements, and the eviction rule they share
    memory.py          in process
    sqlite.py          one SQLite file shared by the user's server processes (file_locks.py: its turn locks)
    redis_store.py     Redis or Valkey, for replicas
"""

from mcp_server.state.base import Bounds, Record, Spent, Store, StoreError
from mcp_server.state.opening import open_store

__all__ = ["Bounds", "Record", "Spent", "Store", "StoreError", "open_store"]
