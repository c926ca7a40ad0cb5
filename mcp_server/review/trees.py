"""The working tree's files as git trees, written to the review's store: a folder in which nothing differs from the
compared side keeps that side's tree id, so a change to three files writes the trees on their way and no others."""

from __future__ import annotations

from mcp_server.review.store import TREE, Store

Node = dict[str, "Node | tuple[str, str]"]
Files = dict[str, tuple[str, str]]  # path -> (mode, id)


def build(store: Store, final: Files, files: Files, folders: dict[str, str]) -> str:
    """The id of the tree holding `final` (path -> (mode, id)); `files` and `folders` are the compared side's
    (path -> (mode, id), path -> tree id; the top folder as "")."""
    changed = [path for path in final.keys() | files.keys() if final.get(path) != files.get(path)]
    if not changed and "" in folders:
        return folders[""]
    dirty = {""}
    for path in changed:
        parts = path.split("/")
        dirty.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    root: Node = {}
    for path, entry in final.items():
        node = root
        *on_the_way, name = path.split("/")
        for part in on_the_way:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)  # a path cannot be a file and a folder at once
            node = child
        node[name] = entry
    return _write(store, root, dirty, folders)


def _write(store: Store, root: Node, dirty: set[str], folders: dict[str, str]) -> str:
    """Post-order, without recursion (a path may be 2,000 folders deep)."""
    written: dict[str, str] = {}
    stack: list[tuple[str, Node, bool]] = [("", root, False)]
    while stack:
        prefix, node, ready = stack.pop()
        if prefix not in dirty and prefix in folders:
            written[prefix] = folders[prefix]
            continue
        children = [(f"{prefix}/{name}" if prefix else name, name, child) for name, child in node.items()]
        if not ready:
            stack.append((prefix, node, True))
            stack.extend((path, child, False) for path, _, child in children if isinstance(child, dict))
            continue
        entries = [
            (TREE, name.encode("utf-8", "surrogateescape"), written[path])
            if isinstance(child, dict)
            else (child[0], name.encode("utf-8", "surrogateescape"), child[1])
            for path, name, child in children
        ]
        written[prefix] = store.tree(entries)
    return written[""]
