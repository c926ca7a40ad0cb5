"""How well the names check of `verified` (mcp_server/agent/claims.py) tells right citations from wrong ones, by the
window of lines around a citation where a claim's names may stand: precision and recall on realistic answers about
real code, attrs (as installed) and this repository.

There is no real model here, so the answers are written from the code itself, in the forms models write. For each
sampled definition, right citations: the `def` line, one or two lines off it as models miscount, the definition's
first lines as a range, a statement in its body, its decorator, a call of it, `Class.method` on a method. Wrong
ones: an unrelated line of the same file, another definition's line under this name, a line just past the
definition's end, the same line number in another file. Every answer goes through the real extraction
(citations.py) and check (claims.py), as investigate runs them; the seen-lines check is left out (every line is
taken as read). `python bench/citations.py` prints the table alone.
"""

from __future__ import annotations

import ast
import importlib.util
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT
from results import Result, Row

sys.path.insert(0, str(ROOT))

from mcp_server.agent.citations import citations
from mcp_server.agent.claims import WINDOW, missing

WINDOWS = (0, 1, 2, 3, 5, 8, 13, 20)
PER_FILE = 12  # definitions sampled in each file
SEED = 25


@dataclass(frozen=True)
class Case:
    answer: str
    right: bool
    kind: str
    path: str


@dataclass(frozen=True)
class _Def:
    name: str
    owner: str | None  # the class of a method
    line: int
    end: int
    decorator: int | None
    body: tuple[int, ...]  # lines of statements in its body, past the docstring
    calls: tuple[int, ...]  # lines elsewhere in the file that call it


def sources() -> dict[str, list[str]]:
    """Label -> lines of every module of attrs and of mcp_server."""
    found: dict[str, list[str]] = {}
    spec = importlib.util.find_spec("attr")
    roots = [(Path(next(iter(spec.submodule_search_locations or []))), "attr")] if spec else []
    roots.append((ROOT / "mcp_server", "mcp_server"))
    for folder, label in roots:
        for path in sorted(folder.rglob("*.py")):
            found[f"{label}/{path.relative_to(folder).as_posix()}"] = path.read_text().split("\n")
    return found


def definitions(lines: list[str]) -> list[_Def]:
    tree = ast.parse("\n".join(lines))
    calls: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if target:
                calls.setdefault(target, []).append(node.lineno)
    out: list[_Def] = []
    for node in ast.walk(tree):
        body = getattr(node, "body", [])
        for child in body if isinstance(body, list) else []:
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                owner = node.name if isinstance(node, ast.ClassDef) else None
                out.append(_definition(child, owner, calls.get(child.name, [])))
    return out


Defined = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _definition(node: Defined, owner: str | None, calls: list[int]) -> _Def:
    statements = node.body[1:] if ast.get_docstring(node) else node.body
    body = tuple(s.lineno for s in statements if s.lineno > node.lineno)
    end = node.end_lineno or node.lineno
    outside = tuple(line for line in calls if not node.lineno <= line <= end)
    decorator = node.decorator_list[0].lineno if node.decorator_list else None
    return _Def(node.name, owner, node.lineno, end, decorator, body, outside)


def cases(files: dict[str, list[str]], per_file: int = PER_FILE) -> list[Case]:
    rng = random.Random(SEED)
    labels = sorted(files)
    out: list[Case] = []
    for path in labels:
        lines = files[path]
        defs = [d for d in definitions(lines) if not d.name.startswith("__")]
        for item in rng.sample(defs, min(per_file, len(defs))):
            out += _right(item, path, rng) + _wrong(item, path, defs, files, labels, rng)
    return out


def _right(d: _Def, path: str, rng: random.Random) -> list[Case]:
    name = f"`{d.name}()`" if d.owner is None else f"`{d.owner}.{d.name}`"
    made = [
        Case(f"{name} is defined at {path}:{d.line}.", True, "def line", path),
        Case(f"- {name} ({path}:{d.line}-{min(d.end, d.line + 6)}): sets things up.", True, "first lines", path),
    ]
    off = d.line + rng.choice((-2, -1, 1, 2))  # a model's small miscount: a blank, comment or docstring line
    if off >= 1:
        made.append(Case(f"{name} is defined at {path}:{off}.", True, "a line or two off", path))
    if d.body:
        line = rng.choice(d.body)
        made.append(Case(f"{name} does the work at {path}:{line}.", True, "body line", path))
    if d.decorator is not None:
        made.append(Case(f"{name} is wrapped by its decorator ({path}:{d.decorator}).", True, "decorator", path))
    if d.calls:
        made.append(Case(f"It calls `{d.name}()` at {path}:{rng.choice(d.calls)}.", True, "call site", path))
    return made


def _wrong(
    d: _Def, path: str, defs: list[_Def], files: dict[str, list[str]], labels: list[str], rng: random.Random
) -> list[Case]:
    name = f"`{d.name}()`"
    lines = files[path]
    outside = [n for n in range(1, len(lines) + 1) if not d.line - 25 <= n <= d.end + 25]
    made: list[Case] = []
    if outside:
        made.append(Case(f"{name} is defined at {path}:{rng.choice(outside)}.", False, "unrelated line", path))
    others = [o for o in defs if o.name != d.name and abs(o.line - d.line) > 25]
    if others:
        other = rng.choice(others)
        made.append(Case(f"{name} is defined at {path}:{other.line}.", False, "another definition", path))
    past = d.end + rng.randint(2, 6)
    if past <= len(lines) and d.name not in "\n".join(lines[d.end : past + 30]):
        made.append(Case(f"{name} ends at {path}:{past}.", False, "just past its end", path))
    elsewhere = [p for p in labels if p != path and len(files[p]) >= d.line and d.name not in "\n".join(files[p])]
    if elsewhere:
        made.append(Case(f"{name} is defined at {rng.choice(elsewhere)}:{d.line}.", False, "another file", path))
    return made


def judged(case: Case, files: dict[str, list[str]], window: int, headers_too: bool) -> bool | None:
    """Whether the names check passes the case's citation (None: not found, which would be a bug)."""
    found = citations(case.answer)
    if not found:
        return None
    cited = found[0]
    lines = files[cited.path]
    if not 1 <= cited.start <= cited.end <= len(lines):
        return False
    return not missing(cited.names, lines, cited.start, cited.end, window, headers_too=headers_too)


def measure(all_cases: list[Case], files: dict[str, list[str]]) -> list[tuple[int, bool, float, float, int]]:
    figures = []
    for headers_too in (True, False):
        for window in WINDOWS:
            verdicts = [(c, judged(c, files, window, headers_too)) for c in all_cases]
            passed = [c for c, v in verdicts if v]
            right = [c for c in all_cases if c.right]
            true = sum(c.right for c in passed)
            precision = true / len(passed) if passed else 1.0
            recall = true / len(right) if right else 1.0
            unfound = sum(v is None for _, v in verdicts)
            figures.append((window, headers_too, precision, recall, unfound))
    return figures


def by_kind(all_cases: list[Case], files: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
    """Per kind of citation, at the chosen WINDOW with headers: (passed, made)."""
    kinds: dict[str, tuple[int, int]] = {}
    for case in all_cases:
        passed, made = kinds.get(case.kind, (0, 0))
        kinds[case.kind] = (passed + bool(judged(case, files, WINDOW, True)), made + 1)
    return kinds


def run(quick: bool = False) -> Result:
    files = sources()
    per_file = 4 if quick else PER_FILE
    made = cases(files, per_file)
    figures = measure(made, files)
    rows = []
    for window, headers_too, precision, recall, _ in figures:
        chosen = window == WINDOW and headers_too
        label = f"citations: names within {window} lines{' + block headers' if headers_too else ''}"
        rows.append(
            Row(label, f"precision {precision:.1%}", f"recall {recall:.1%}", "", "", "chosen" if chosen else "", None)
        )
    kinds = by_kind(made, files)
    right = sum(c.right for c in made)
    shown = ", ".join(f"{k} {p}/{n}" for k, (p, n) in sorted(kinds.items()))
    notes = [
        f"citations: {len(made):,} answers ({right:,} right citations, {len(made) - right:,} wrong) about "
        f"{len({c.path for c in made})} modules of attrs and mcp_server, {per_file} definitions sampled per module "
        f"(seed {SEED}); precision is the share of citations passed that are right, recall the share of right ones "
        f"passed. Passed at the chosen window ({WINDOW} lines + block headers), by kind: {shown}. "
        f"Unfound citations: {sum(f[4] for f in figures)} (the extraction missed none it should find).",
    ]
    return Result(rows, {"figures": figures, "kinds": kinds}, notes)


if __name__ == "__main__":
    result = run("--quick" in sys.argv)
    for row in result.rows:
        print(f"{row.case:<55} {row.subject:<20} {row.floor:<16} {row.target}")
    for note in result.notes:
        print(f"- {note}")
