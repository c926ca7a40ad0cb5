"""Whether a changed file still parses: Python by `ast`, JSON, TOML and YAML by their parsers, other languages by
tree-sitter when `tree_sitter_language_pack` is installed; anything else is "not checked", never guessed.

Parsing only: nothing is imported, executed or constructed (YAML is composed into nodes, never into objects).
"""

from __future__ import annotations

import ast
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
# tree-sitter grammar names of tree_sitter_language_pack, by suffix.
_TREE_SITTER = {
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript",
    ".tsx": "tsx", ".go": "go", ".rs": "rust", ".java": "java", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
    ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".sh": "bash", ".kt": "kotlin", ".swift": "swift",
    ".lua": "lua", ".scala": "scala", ".css": "css", ".html": "html",
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
    grammar = _TREE_SITTER.get(suffix)
    if grammar is None:
        return Parsed(path, None, None, "not checked: no parser for this kind of file")
    try:
        from tree_sitter_language_pack import get_parser  # type: ignore[import-not-found]  # optional
    except ImportError:
        return Parsed(path, grammar, None, "not checked: tree-sitter (tree_sitter_language_pack) is not installed")
    tree = get_parser(grammar).parse(text.encode())
    node = _first_error(tree.root_node)
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
