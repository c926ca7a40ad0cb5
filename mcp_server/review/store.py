"""The review's own object store: the working tree's blobs and trees as git would write them, in a private temporary
folder that git reads in front of the repository's store (GIT_OBJECT_DIRECTORY, the repository's own store as an
alternate). Nothing is written into the repository; the folder is removed when the change has been gathered.

Objects are git's loose format: `<kind> <size>\\0<body>`, zlib-compressed, named by their SHA-1 or SHA-256 (the
repository's object format). A tree lists its entries sorted as git sorts them (a folder's name as if it ended in
`/`), each as `<mode> <name>\\0<id bytes>`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import zlib

TREE = "40000"
_ALGORITHMS = frozenset({"sha1", "sha256"})


class Store:
    """A temporary object store (blocking writes: call from a worker thread)."""

    def __init__(self, algorithm: str) -> None:
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unknown object format {algorithm!r}")
        self.algorithm = algorithm
        self.path = tempfile.mkdtemp(prefix="deepseek-mcp-review-")  # private: mode 0700
        self.closed = False

    def blob(self, data: bytes) -> str:
        """Write a blob; its id."""
        return self._write(b"blob", data)

    def tree(self, entries: list[tuple[str, bytes, str]]) -> str:
        """Write a tree of (mode, name, id) entries; its id."""
        ordered = sorted(entries, key=lambda e: e[1] + b"/" if e[0] == TREE else e[1])
        body = b"".join(mode.encode() + b" " + name + b"\0" + bytes.fromhex(oid) for mode, name, oid in ordered)
        return self._write(b"tree", body)

    def id_of(self, data: bytes) -> str:
        """A blob's id, without writing it."""
        return hashlib.new(self.algorithm, b"blob %d\0" % len(data) + data).hexdigest()

    def _write(self, kind: bytes, body: bytes) -> str:
        raw = kind + b" %d\0" % len(body) + body
        oid = hashlib.new(self.algorithm, raw).hexdigest()
        folder = os.path.join(self.path, oid[:2])
        with contextlib.suppress(FileExistsError):  # not makedirs: a store already removed is never made again
            os.mkdir(folder, 0o700)
        target = os.path.join(folder, oid[2:])
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o400)
        except FileExistsError:
            return oid
        with os.fdopen(fd, "wb") as file:
            file.write(zlib.compress(raw, 1))
        if self.closed:  # removed meanwhile by a call that stopped waiting for this thread: remove what was left
            shutil.rmtree(self.path, ignore_errors=True)
        return oid

    def close(self) -> None:
        """Remove the store (a thread still writing removes what it wrote after this)."""
        self.closed = True
        shutil.rmtree(self.path, ignore_errors=True)
