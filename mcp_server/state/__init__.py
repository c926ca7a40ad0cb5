"""State that outlives a call: conversations and spending, in memory, in a SQLite file, or in Redis/Valkey.

The modules, in the order a call passes through them:

    conversations.py   conversation history by id, for its owner, one turn at a time, bounded in turns and bytes
    history.py         a conversation's turns, the messages sent from them, and its stored JSON
    saving.py          after the answer: the save in the background, what this server last saved, failed saves
    opening.py         which backend DEEPSEEK_MCP_STATE names, opened on first use
    base.py            the interface every backend implements, and the eviction rule they share
    memory.py          in process (turn_locks.py: locks that the save after an answer frees)
    sqlite.py          one SQLite file shared by the user's server processes (file_locks.py: its turn locks;
                       sqlite_rows.py: its SQL; sqlite_file.py: the file's safety and errors)
    redis_store.py     Redis or Valkey, for replicas (redis_scripts.py: its Lua scripts, one round trip each)
"""

from mcp_server.state.base import Bounds, Record, Spent, Store, StoreError
from mcp_server.state.opening import open_store

__all__ = ["Bounds", "Record", "Spent", "Store", "StoreError", "open_store"]
