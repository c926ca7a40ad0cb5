"""`edit_file` and `delete_file`: the model's writes, into the scratch copy only, under the same walls as reads.

Their names and parameters are a contract with the model: edit_file {path, old_text, new_text} replaces the one
occurrence of `old_text` (an empty `old_text` creates the file, which must not exist), delete_file {path} removes
one file. A path is judged as read_file judges it (mcp_server/agent/workspace.py): `..`, absolute paths and `~` are
refused, and so is every name the walk would not pass: .git and other version control, vendored and generated
trees, gitignored entries, lock files, names of secrets, symlinks. A new file's missing folders are judged by the
same rules before one is made. Nothing is ever written through a link: each write opens its folder through the
policy's checked opening and replaces the file by renaming a new one over it inside that folder, so even a hard
link the check made to a file outside is only unlinked from the copy. Text holding a key is neither edited nor
written. A refusal is a function result, never an exception.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_server.agent.functions import Function, Outcome
from mcp_server.agent.workspace import Refused, Workspace
from mcp_server.context.model import Found, Skip
from mcp_server.context.read import read_bytes
from mcp_server.context.walk import Entered
from mcp_server.core.quoting import clip, format_size
from mcp_server.policy import names
from mcp_server.policy.opening import DIR_FLAGS, open_checked

from .copy import write_all
from .parsers import parse

MAX_CHANGED = 100  # files one run may change, add or delete
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_PATH = {"type": "string", "description": "Relative to the folder; as read_file takes it."}
EDIT_FILE = Function(
    "edit_file",
    "Replace old_text, which must occur exactly once in the file, with new_text. An empty old_text creates a new "
    "file holding new_text.",
    {
        "type": "object",
        "properties": {
            "path": _PATH,
            "old_text": {"type": "string", "description": "Exact text, with enough lines to be unique."},
            "new_text": {"type": "string"},
        },
        "required": ["path", "old_text", "new_text"],
    },
)
DELETE_FILE = Function(
    "delete_file",
    "Delete one file.",
    {"type": "object", "properties": {"path": _PATH}, "required": ["path"]},
)


@dataclass
class Editor:
    """One run's writes: the copy's workspace, and each changed file's text as it was before its first change."""

    workspace: Workspace
    originals: dict[str, bytes | None] = field(default_factory=dict)  # None: it did not exist
    executable: set[str] = field(default_factory=set)
    writes: list[str] = field(default_factory=list)  # each write's label, in order (the check reruns after one)

    def edit(self, args: dict[str, Any]) -> Outcome:
        path, old, new = _text(args, "path"), _text(args, "old_text"), _text(args, "new_text")
        if not old:
            return self._create(path, new)
        found = self._existing(path)
        data = self._read(found)
        text = data.decode("utf-8")
        count = text.count(old)
        if count == 0 and "\r\n" in text and "\r\n" not in old:  # the model wrote "\n"; the file has "\r\n"
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
            count = text.count(old)
        if count != 1:
            raise Refused(_not_once(found.label, count))
        at = text.index(old)
        result = text.replace(old, new, 1).encode()
        self._write(found.label, found.real, result, data)
        first = text.count("\n", 0, at) + 1
        lines = new.count("\n") + (0 if new.endswith("\n") or not new else 1)
        return self._done(found.label, result, f"replaced lines {first}-{first + old.count(chr(10))}", lines)

    def delete(self, args: dict[str, Any]) -> Outcome:
        found = self._existing(_text(args, "path"))
        data = self._read(found)
        self._may_change(found.label)
        self._remember(found.label, data)
        parent, _, name = found.real.rpartition("/")
        fd = open_checked(parent, self.workspace.places, DIR_FLAGS)
        try:
            os.unlink(name, dir_fd=fd)
        finally:
            os.close(fd)
        self.writes.append(found.label)
        return Outcome(f"Deleted {found.label}.", f"deleted {found.label}")

    def put(self, label: str, before: bytes | None, after: str | None) -> None:
        """Make the copy's file `label` hold `after` (None: deleted), under the same rules as the model's edits."""
        if after is None:
            self.delete({"path": label})
        elif before is None:
            self._create(label, after)
        else:
            found = self._existing(label)
            self._write(found.label, found.real, after.encode(), before)

    def _existing(self, path: str) -> Found:
        """A file of the copy to change, whose name a patch can carry (a hostile repository's file may be called
        `notes\n+++ b/x`: git would read its header otherwise, and a Windows host takes `\\` for a separator)."""
        found = self.workspace.file(path)
        unfit = next((part for part in found.label.split("/") if _unpatchable(part)), None)
        if unfit is not None:
            raise Refused(f"{shown(found.label)} is refused: {_UNPATCHABLE}; the patch could not hold it")
        return found

    def _create(self, path: str, new: str) -> Outcome:
        parent, missing, label = self._new_place(path)
        data = new.encode()
        self._check_new(label, data)
        self._remember(label, None)
        fd = open_checked(parent.real, self.workspace.places, DIR_FLAGS)
        try:
            for folder in missing:
                os.mkdir(folder, 0o700, dir_fd=fd)
                inner = os.open(folder, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = inner
            try:
                _write_new(fd, label.rpartition("/")[2], data)
            except FileExistsError:
                raise Refused(f"{label} already exists; pass old_text to edit it") from None
        finally:
            os.close(fd)
        self.writes.append(label)
        return self._done(label, data, "created", data.count(b"\n"))

    def _new_place(self, path: str) -> tuple[Entered, list[str], str]:
        """The deepest existing folder of a new file's path, the folders to make below it, and the file's label."""
        try:
            self.workspace.locate(path)  # the whole path first: `..`, absolute paths, ~ and refused names say so
        except Refused as e:
            if "does not exist" not in str(e):
                raise
        else:
            raise Refused(f"{shown(path)} already exists; pass old_text to edit it")
        parts = [part for part in path.strip().split("/") if part not in ("", ".")]
        if not parts:
            raise Refused("pass the path of the file to create")
        for depth in range(len(parts) - 1, -1, -1):
            try:
                _, place = self.workspace.locate("/".join(parts[:depth]))
            except Refused as e:
                if "does not exist" in str(e) and depth:
                    continue
                raise
            if not isinstance(place, Entered):
                raise Refused(f"{'/'.join(parts[:depth])} is a file, not a folder")
            label = "/".join(parts)
            if depth == len(parts) - 1 and _exists(place, parts[-1]):
                raise Refused(f"{label} already exists, or is refused; pass old_text to edit it")
            self._judge_new(place, parts[depth:], label)
            return place, parts[depth:-1], label
        raise Refused(f"{path!r} cannot be created")  # pragma: no cover - depth 0 is the top, which exists

    def _judge_new(self, place: Entered, new: list[str], label: str) -> None:
        """A new file's missing folders and name, judged as the walk would judge them once they exist."""
        rules = place.rules.entering(place.real)
        real = place.real
        for index, name in enumerate(new):
            real = f"{real.rstrip('/')}/{name}"
            last = index == len(new) - 1
            why = _refused_name(name, last, os.path.basename(os.path.dirname(real)))
            if why is None and (self.workspace.places.holds(real) or rules.ignored(real, not last)):
                why = "gitignored, or a place where keys are kept"
            if why is not None:
                raise Refused(f"{label!r} is refused: {name} is {why}; the patch could not hold it")
            if not last:
                rules = rules.entering(real)
        if not self.workspace.visible(label, False):
            raise Refused(f"{label!r} is outside the paths given to this task")

    def _read(self, found: Found) -> bytes:
        data = read_bytes(found, self.workspace.job())
        if isinstance(data, Skip):
            raise Refused(f"{found.label} is refused: {data.reason}")
        if b"\x00" in data:
            raise Refused(f"{found.label} is binary; edit_file edits text and delete_file text files only")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(f"{found.label} is not UTF-8 text; it cannot be edited here") from None
        finding = self.workspace.scanner.find_bytes(data)
        if finding is not None:
            raise Refused(f"{found.label} is refused: {finding.reason}; its content is never sent")
        return data

    def _check_new(self, label: str, data: bytes) -> None:
        most = self.workspace.limits.context_file_bytes
        if len(data) > most:
            raise Refused(f"{label} would be {format_size(len(data))}, past the {format_size(most)} a file may be")
        finding = self.workspace.scanner.find_bytes(data)
        if finding is not None:
            raise Refused(
                f"the new text of {label} is refused: {finding.reason}; secrets are never written: use a placeholder, "
                "or read the value from the environment"
            )
        self._may_change(label)

    def _may_change(self, label: str) -> None:
        """Refused past MAX_CHANGED files changed, added or deleted in one task."""
        if label not in self.originals and len(self.originals) >= MAX_CHANGED:
            raise Refused(f"this task has changed {MAX_CHANGED} files, the most one task may; finish with those")

    def _write(self, label: str, real: str, data: bytes, before: bytes) -> None:
        self._check_new(label, data)
        self._remember(label, before)
        if os.stat(real).st_mode & 0o100:
            self.executable.add(label)
        parent, _, name = real.rpartition("/")
        fd = open_checked(parent, self.workspace.places, DIR_FLAGS)
        try:
            temporary = f".{name[:100]}.{secrets.token_hex(6)}.delegate"
            _write_new(fd, temporary, data)
            # A whole second later than the file it replaces: tools that compare mtimes in seconds (Python's .pyc,
            # make) would otherwise take an edit of the same size in the same second for no change.
            was = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mtime_ns
            when = max(time.time_ns(), was + 1_000_000_000)
            os.utime(temporary, ns=(when, when), dir_fd=fd, follow_symlinks=False)
            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)  # never through a link: the entry is replaced
        finally:
            os.close(fd)
        self.writes.append(label)

    def _remember(self, label: str, before: bytes | None) -> None:
        self.originals.setdefault(label, before)

    def _done(self, label: str, data: bytes, what: str, lines: int) -> Outcome:
        said = f"{label}: {what} ({lines} lines of new text)."
        parsed = parse(label, data.decode("utf-8", "replace"))
        if parsed.ok is False:
            said += f" Note: it no longer parses as {parsed.language} ({parsed.detail})."
        return Outcome(said, f"{what.split()[0]} {label}" + (" (does not parse)" if parsed.ok is False else ""))


def _write_new(folder: int, name: str, data: bytes) -> None:
    write_all(os.open(name, _CREATE, 0o600, dir_fd=folder), data)


def _exists(place: Entered, name: str) -> bool:
    return os.path.lexists(Path(place.real) / name)


_UNPATCHABLE = "not a name a patch can carry (a control character or backslash)"


def _unpatchable(name: str) -> bool:
    return any(ord(c) < 32 or c == "\x7f" for c in name) or "\\" in name


def _refused_name(name: str, last: bool, folder: str) -> str | None:
    """Why a new file or folder may not be made, judged under its name and under the names it takes on a host that
    applies the patch (names.on_hosts: `.GIT` on macOS, `.git.` and `GIT~1` on Windows are `.git`)."""
    if _unpatchable(name) or name in ("..",):
        return _UNPATCHABLE
    for spelling in dict.fromkeys((name, *names.on_hosts(name))):
        why = _refused_spelling(spelling, last, folder)
        if why is not None:
            return why if spelling == name else f"{why} on a host that applies the patch (as {spelling!r})"
    return None


def _refused_spelling(name: str, last: bool, folder: str) -> str | None:
    if name in names.VCS:
        return "version control"
    if not last and (names.skipped_dir(name) or name in names.SECRET_DIRS or names.secret_folder(name)):
        return "a vendored, generated, tool or key folder"
    if last and (names.secret_name(name) or names.bare_secret(folder, name)):
        return "named like a secret"
    if last and names.generated_name(name):
        return "a lock file or generated file"
    return None


def _not_once(label: str, count: int) -> str:
    if count == 0:
        return (
            f"old_text does not occur in {label}; read_file it again and copy the text exactly (whitespace and "
            "indentation count)"
        )
    return f"old_text occurs {count} times in {label}; include more of the surrounding lines so it occurs once"


def _text(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise Refused(f"`{name}` is required and must be a string")
    return value


def shown(path: str) -> str:
    return clip(repr(path), 200)
