"""Whether a changed file still parses: Python by `ast`, JSON, TOML and YAML by their parsers, other languages by
tree-sitter when `tree_sitter` and the language's grammar package (`tree_sitter_javascript`, `tree_sitter_go` ...)
are installed; anything else is "not checked", never guessed. Grammars are never downloaded: a package that would
fetch one at run time is not used.

Parsing only: nothing is imported, executed or constructed (YAML is composed into nodes, never into objects).
"""

from __future__ import annotations

import ast
import importlib
import json
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_DETAIL = 300


@dataclass(frozen=True)
class Parsed:
    path: str
    language: str | None  # None: no parser for this kind of file
    ok: bool | None  # None: not checked
    detail: str = ""


def _python(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences warn; the file still parses
        ast.parse(text)


def _yaml(text: str) -> None:
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no types

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for _ in yaml.compose_all(text, Loader=loader):
        pass


_BY_SUFFIX: dict[str, tuple[str, Callable[[str], Any]]] = {
    ".py": ("Python", _python),
    ".pyi": ("Python", _python),
    ".json": ("JSON", json.loads),
    ".toml": ("TOML", tomllib.loads),
    ".yaml": ("YAML", _yaml),
    ".yml": ("YAML", _yaml),
}
# By suffix: the grammar package (tree-sitter's own, one per language on PyPI) and its language function.
_TREE_SITTER = {
    ".js": ("javascript", "language"), ".mjs": ("javascript", "language"), ".cjs": ("javascript", "language"),
    ".jsx": ("javascript", "language"), ".ts": ("typescript", "language_typescript"),
    ".tsx": ("typescript", "language_tsx"), ".go": ("go", "language"), ".rs": ("rust", "language"),
    ".java": ("java", "language"), ".c": ("c", "language"), ".h": ("c", "language"), ".cc": ("cpp", "language"),
    ".cpp": ("cpp", "language"), ".hpp": ("cpp", "language"), ".cs": ("c_sharp", "language"),
    ".rb": ("ruby", "language"), ".php": ("php", "language_php"), ".sh": ("bash", "language"),
    ".css": ("css", "language"), ".html": ("html", "language"),
}  # fmt: skip


def parse(path: str, text: str) -> Parsed:
    """Whether `text`, the content of `path`, parses in the language its name says."""
    suffix = "." + path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
    known = _BY_SUFFIX.get(suffix)
    if known is None:
        return _tree_sitter(path, suffix, text)
    language, parser = known
    try:
        parser(text)
    except ImportError:
        return Parsed(path, language, None, f"not checked: no {language} parser installed")
    except Exception as e:  # SyntaxError, ValueError, yaml.YAMLError, RecursionError: each means "does not parse"
        return Parsed(path, language, False, _detail(e))
    return Parsed(path, language, True)


def _tree_sitter(path: str, suffix: str, text: str) -> Parsed:
    known = _TREE_SITTER.get(suffix)
    if known is None:
        return Parsed(path, None, None, "not checked: no parser for this kind of file")
    grammar, function = known
    try:
        import tree_sitter  # type: ignore[import-not-found,unused-ignore]  # optional

        module = importlib.import_module(f"tree_sitter_{grammar}")
        parser = tree_sitter.Parser(tree_sitter.Language(getattr(module, function)()))
    except (ImportError, AttributeError, ValueError, TypeError):
        return Parsed(path, grammar, None, f"not checked: tree-sitter and tree_sitter_{grammar} are not installed")
    node = _first_error(parser.parse(text.encode()).root_node)
    if node is None:
        return Parsed(path, grammar, True)
    return Parsed(path, grammar, False, f"line {node.start_point[0] + 1}: a syntax error (tree-sitter {grammar})")


def _first_error(node: Any) -> Any:
    """The deepest node on the first path of nodes holding an error (iterative: trees can be deep)."""
    if not node.has_error:
        return None
    while True:
        child = next((c for c in node.children if c.has_error), None)
        if child is None:
            return node
        node = child


def _detail(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"line {error.lineno}: {error.msg}"[:MAX_DETAIL]
    text = " ".join(str(error).split())
    return (text or type(error).__name__)[:MAX_DETAIL]
