"""The read-only functions DeepSeek may call while it investigates. Their names and parameters are a contract with
the model (keep them): list_dir {path}, glob {pattern, path?}, grep {pattern, path?, glob?} and
read_file {path, start_line?, end_line?}.

Secrets never reach the model through any of them: a file named like one, or whose content holds a key, may appear
in a listing by name, but read_file refuses it and grep skips it before looking at a line. Each result is at most
MAX_RESULT_BYTES; past that it is cut with a note telling the model how to narrow the call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_server.context.model import Found, OutOfTime, Skip
from mcp_server.context.walk import Walk
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import format_size

from .patterns import BadPattern, compile_glob, compile_regex
from .search import matching_lines
from .workspace import Refused, Workspace, lines_of

MAX_RESULT_BYTES = 64 * 1024  # one function result, as the model receives it
MAX_LISTED = 500  # paths in one glob result
MAX_MATCHES = 200  # lines in one grep result
MAX_GREP_LINE = 300  # characters of one matching line shown
MAX_READ_LINE = 2000  # characters of one line read_file shows (minified files)
NAMES_A_LINE = 64  # file names on one line of a glob result, after their folder
_QUOTED = re.compile(r'[\s"\x00-\x1f\x7f]')


@dataclass(frozen=True)
class Function:
    """A function offered to the model: its name, what it does, and its parameters as JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        """As the request's `tools` list holds it."""
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class Outcome:
    """A function's result: the text the model receives and one line for the step list and progress."""

    text: str
    summary: str
    refused: bool = False


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_PATH = {"type": "string", "description": 'Relative to the folder investigated; "" is its top.'}
READ_ONLY: tuple[Function, ...] = (
    Function("list_dir", "List one folder: names, file or folder, sizes.", _object({"path": _PATH}, ["path"])),
    Function(
        "glob",
        "Files matching a glob below path (** crosses folders; a glob without / matches names at any depth).",
        _object({"pattern": {"type": "string"}, "path": _PATH}, ["pattern"]),
    ),
    Function(
        "grep",
        "Lines matching a regular expression (RE2 syntax), as path:line: text.",
        _object(
            {"pattern": {"type": "string"}, "path": _PATH, "glob": {"type": "string", "description": "e.g. *.py"}},
            ["pattern"],
        ),
    ),
    Function(
        "read_file",
        "Numbered lines of one file; pass a range for large files.",
        _object(
            {"path": _PATH, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}},
            ["path"],
        ),
    ),
)


def call(workspace: Workspace, name: str, arguments: str) -> Outcome:
    """Run one function call (blocking: file work, in a worker thread). Never raises for anything the model did."""
    handler = _HANDLERS.get(name)
    if handler is None:
        names = ", ".join(f.name for f in READ_ONLY)
        return _refused(f"there is no function {name[:100]!r}; the functions are {names}")
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return _refused(f'the arguments of {name} are not valid JSON; pass an object such as {{"path": "src"}}')
    if not isinstance(parsed, dict):
        return _refused(f"the arguments of {name} must be a JSON object")
    try:
        return handler(workspace, parsed)
    except (Refused, BadPattern, InputError) as e:
        return _refused(str(e))


def _refused(reason: str) -> Outcome:
    return Outcome(f"Refused: {reason}.", f"refused: {reason[:120]}", refused=True)


def _list_dir(workspace: Workspace, args: dict[str, Any]) -> Outcome:
    walk, folder = workspace.folder(_string(args, "path"))
    cut = len(folder.label) + 1 if folder.label else 0
    rows: list[tuple[str, str]] = [  # one line an entry: "name/" for a folder, "name SIZE" for a file
        (f"{entered.label[cut:]}/", f"{_name(entered.label[cut:])}/")
        for entered in walk.listing(folder)
        if workspace.visible(entered.label, True)
    ]
    rows += [
        (f.label[cut:], f"{_name(f.label[cut:])} {format_size(f.size)}")
        for f in walk.found
        if workspace.visible(f.label, False)
    ]
    rows += [
        (s.path[cut:], f"{_name(s.path[cut:].rstrip('/'))}{'/' if s.path.endswith('/') else ''} (skipped: {s.reason})")
        for s in walk.skipped
        if workspace.visible(s.path.rstrip("/"), True)
    ]
    lines = [line for _, line in sorted(rows)]
    head = f"{folder.label or '.'}/: {len(lines)} entries"
    return _bounded(head, lines, _count(len(lines), "entry", "entries"), "list a subfolder")


def _glob(workspace: Workspace, args: dict[str, Any]) -> Outcome:
    pattern = compile_glob(_required(args, "pattern"))
    walk, folder = workspace.folder(_string(args, "path"))
    matched = _files_below(workspace, walk, folder.real, folder.label, pattern)
    shown = _by_folder([f.label for f in matched[:MAX_LISTED]])
    more = f" (the first {MAX_LISTED} shown: narrow the pattern or path)" if len(matched) > MAX_LISTED else ""
    return _bounded(
        f"{len(matched)} files{more}", shown, _count(len(matched), "file", "files"), "narrow the pattern or path"
    )


def _by_folder(labels: list[str]) -> list[str]:
    """Paths as one line a folder, "folder/: name name ...": each folder is written once (for the model) and the
    result is a fraction of the bytes of one path a line (for the context and its cache)."""
    folders: dict[str, list[str]] = {}
    for label in labels:
        parent, _, name = label.rpartition("/")
        folders.setdefault(parent, []).append(_name(name))
    lines = []
    for parent in sorted(folders):
        names = folders[parent]
        for start in range(0, len(names), NAMES_A_LINE):
            lines.append(f"{parent or '.'}/: {' '.join(names[start : start + NAMES_A_LINE])}")
    return lines


def _name(name: str) -> str:
    """A name as listed: quoted as JSON when a space, a quote or a control character would make it ambiguous."""
    return json.dumps(name, ensure_ascii=False) if _QUOTED.search(name) or not name else name


def _grep(workspace: Workspace, args: dict[str, Any]) -> Outcome:
    regex = compile_regex(_required(args, "pattern"))
    glob_text = _string(args, "glob")
    walk, place = workspace.locate(_string(args, "path"))
    if isinstance(place, Found):
        files = [place]
    else:
        files = _files_below(workspace, walk, place.real, place.label, compile_glob(glob_text) if glob_text else None)
    job = workspace.job()
    gate = compile_regex(f"(?m){regex.pattern}") if "\\A" not in regex.pattern and "\\z" not in regex.pattern else None
    matches: list[str] = []
    lines: list[tuple[str, int]] = []  # (file, line) of each match, to record what is delivered
    skipped = secret = searched = 0
    stopped = None
    try:
        for found in files:
            job.check_time()
            text = workspace.read(found, job)
            searched += 1
            if isinstance(text, Skip):
                skipped += 1
                secret += text.secret
                continue
            for number, line in matching_lines(regex, gate, text, job.check_time):
                matches.append(f"{found.label}:{number}: {_clip(line, MAX_GREP_LINE)}")
                lines.append((found.label, number))
                if len(matches) > MAX_MATCHES:
                    break
            if len(matches) > MAX_MATCHES:
                break
    except OutOfTime:
        stopped = (
            f"stopped at the {job.limits.context_seconds:g} s bound of one call after {searched} of {len(files)} "
            "files: the pattern is slow on these files; narrow the path or glob, or simplify the pattern"
        )
    outcome = _grep_outcome(matches, len(files), skipped, secret, stopped)
    for label, number in lines[: _rows(outcome)]:
        workspace.seen.add(label, number, number)
    return outcome


def _grep_outcome(matches: list[str], searched: int, skipped: int, secret: int, stopped: str | None) -> Outcome:
    more = len(matches) > MAX_MATCHES
    shown = min(len(matches), MAX_MATCHES)
    head = f"{_count(shown, 'matching line', 'matching lines')} in {_count(searched, 'file', 'files')}"
    if more:
        head += f" (stopped at {MAX_MATCHES}: narrow the pattern, path or glob)"
    if skipped:
        head += f"; {skipped} files not searched (binary, too large{', or holding secrets' if secret else ''})"
    if stopped:
        head += f"; {stopped}"
    count = (
        _count(shown, "match", "matches") + ("+" if more else "") + (", stopped at the time bound" if stopped else "")
    )
    return _bounded(head, matches[:MAX_MATCHES], count, "narrow the pattern, path or glob")


def _read_file(workspace: Workspace, args: dict[str, Any]) -> Outcome:
    found = workspace.file(_required(args, "path"))
    start, end = _integer(args, "start_line"), _integer(args, "end_line")
    lines = lines_of(workspace.text(found))
    first = max(start or 1, 1)
    last = min(end or len(lines), len(lines))
    if first > max(len(lines), 1) or (end is not None and end < first):
        raise Refused(f"{found.label} has {len(lines)} lines; lines {first}-{end or first} do not exist")
    shown: list[str] = []
    size = 0
    end_shown = last
    for number in range(first, last + 1):
        row = f"{number}\t{_clip(lines[number - 1], MAX_READ_LINE)}"
        size += len(row.encode()) + 1
        if size > MAX_RESULT_BYTES - 512:
            note = (
                f"(truncated at {format_size(MAX_RESULT_BYTES)}: shown up to line {number - 1}; narrow the range, "
                f"e.g. start_line={number})"
            )
            shown.append(note)
            end_shown = number - 1
            break
        shown.append(row)
    workspace.seen.add(found.label, first, end_shown)
    head = f"{found.label}: lines {first}-{last} of {len(lines)}"
    cut = " (truncated)" if end_shown < last else ""
    return Outcome("\n".join([head, *shown]), f"lines {first}-{end_shown} of {len(lines)}{cut}")


def _files_below(workspace: Workspace, walk: Walk, real: str, label: str, pattern: Any) -> list[Found]:
    walk.folder(Path(real), label)
    cut = len(label) + 1 if label else 0
    found = sorted(walk.found, key=lambda f: f.label)
    return [
        f for f in found if workspace.visible(f.label, False) and (pattern is None or pattern.fullmatch(f.label[cut:]))
    ]


def _bounded(head: str, lines: list[str], summary: str, narrow: str) -> Outcome:
    out = [head]
    size = len(head.encode())
    for index, line in enumerate(lines):
        size += len(line.encode()) + 1
        if size > MAX_RESULT_BYTES - 256:
            out.append(f"(truncated at {format_size(MAX_RESULT_BYTES)}: {len(lines) - index} more; {narrow})")
            break
        out.append(line)
    return Outcome("\n".join(out), summary)


def _rows(outcome: Outcome) -> int:
    """How many rows a result delivered below its head line, a truncation note not counted."""
    rows = outcome.text.split("\n")[1:]
    return len(rows) - (1 if rows and rows[-1].startswith("(truncated at ") else 0)


def _string(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is not None and not isinstance(value, str):
        raise Refused(f"`{name}` must be a string")
    return value


def _required(args: dict[str, Any], name: str) -> str:
    value = _string(args, name)
    if value is None:
        raise Refused(f"`{name}` is required")
    return value


def _integer(args: dict[str, Any], name: str) -> int | None:
    value = args.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"`{name}` must be a whole number")
    return value


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _clip(line: str, most: int) -> str:
    return line if len(line) <= most else f"{line[:most]}…"


_HANDLERS: dict[str, Callable[[Workspace, dict[str, Any]], Outcome]] = {
    "list_dir": _list_dir,
    "glob": _glob,
    "grep": _grep,
    "read_file": _read_file,
}
