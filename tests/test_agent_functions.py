"""The four read-only functions the model calls (mcp_server/agent/functions.py), called directly on a made project:
the `files` rules for every path, secrets never shown, and every bound named in its message."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import anyio
import pytest

from mcp_server.agent.citations import citations
from mcp_server.agent.functions import MAX_RESULT_BYTES, Outcome, call
from mcp_server.agent.workspace import Workspace
from mcp_server.core.config import Limits
from mcp_server.policy import FileAccess, Scanner, home, secret_places
from tests.agent_project import AWS_KEY, MARKERS, make_agent_project


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = make_agent_project(tmp_path).resolve()
    return Workspace(root, FileAccess(None, False), Limits(), Scanner.of(()), secret_places(home()))


def _call(workspace: Workspace, name: str, **arguments: object) -> Outcome:
    return call(workspace, name, json.dumps(arguments))


def test_list_dir_names_secret_and_skipped_entries_but_shows_no_content(workspace: Workspace) -> None:
    out = _call(workspace, "list_dir", path="")
    lines = out.text.splitlines()
    assert "src/" in lines and any(line.startswith("README.md ") and line.endswith(" bytes") for line in lines)
    assert ".env (skipped: named like a secret)" in out.text and "node_modules/ (skipped: a vendored" in out.text
    assert "linked_dir (skipped: a symlink out of the folder given (not followed))" in out.text
    assert not [m for m in MARKERS if m in out.text]
    assert _call(workspace, "list_dir", path="src/app.py").text.startswith("Refused: 'src/app.py' is a file")


def test_glob_matches_names_at_any_depth_and_double_stars_across_folders(workspace: Workspace) -> None:
    anywhere = _call(workspace, "glob", pattern="*.py").text.splitlines()
    assert anywhere == ["4 files", "src/: app.py legacy.py settings.py util.py"]
    assert _call(workspace, "glob", pattern="src/**/*.csv").text.splitlines()[1:] == ["src/data/: keep.csv"]
    assert _call(workspace, "glob", pattern="*.py", path="src/data").summary == "0 files"


def test_grep_never_shows_a_line_of_a_file_holding_a_secret(workspace: Workspace) -> None:
    out = _call(workspace, "grep", pattern="REGION|AKIA|PRIVATE|hunter2|return")
    assert "src/app.py:2:     return 42" in out.text and "src/util.py:5:" in out.text
    assert "REGION" not in out.text and AWS_KEY not in out.text and "holding secrets" in out.text
    assert _call(workspace, "grep", pattern="def", glob="app.py").summary == "1 match"


@pytest.mark.anyio
async def test_grep_refuses_what_re2_cannot_run_and_a_catastrophic_pattern_finishes(workspace: Workspace) -> None:
    lookahead = _call(workspace, "grep", pattern="foo(?=bar)")
    assert lookahead.refused and "RE2 has no lookaround" in lookahead.text
    assert "at most 512" in _call(workspace, "grep", pattern="a" * 600).text
    (workspace.root / "src/garbage.txt").write_text("a" * 1_000_000 + "!")
    with anyio.fail_after(5):  # a backtracking engine takes hours on this
        out = await anyio.to_thread.run_sync(lambda: _call(workspace, "grep", pattern="(a+)+b", path="src/garbage.txt"))
    assert out.summary == "0 matches" and out.text.startswith("0 matching lines in 1 file")


def test_read_file_numbers_a_range_and_cuts_a_large_file_with_a_note_to_narrow_it(workspace: Workspace) -> None:
    ranged = _call(workspace, "read_file", path="src/util.py", start_line=2, end_line=3)
    assert ranged.text.splitlines()[0] == "src/util.py: lines 2-3 of 5" and ranged.text.splitlines()[1].startswith(
        "2\t"
    )
    (workspace.root / "src/big.py").write_text("".join(f"line = {n}  # {'x' * 60}\n" for n in range(5000)))
    big = _call(workspace, "read_file", path="src/big.py")
    assert len(big.text.encode()) <= MAX_RESULT_BYTES and "truncated at 64.0 KiB" in big.text
    assert "narrow the range, e.g. start_line=" in big.text
    assert "has 2 lines" in _call(workspace, "read_file", path="src/app.py", start_line=9).text


def test_bad_arguments_and_unknown_functions_are_refusals_the_model_can_act_on(workspace: Workspace) -> None:
    assert "not valid JSON" in call(workspace, "read_file", "{oops").text
    assert "`path` is required" in _call(workspace, "read_file").text
    assert (
        "`start_line` must be a whole number" in _call(workspace, "read_file", path="src/app.py", start_line="1").text
    )
    assert "the functions are list_dir, glob, grep, read_file" in _call(workspace, "write_file").text


def test_reading_stops_at_the_bytes_one_investigation_may_read(workspace: Workspace) -> None:
    small = dataclasses.replace(workspace, limits=dataclasses.replace(Limits(), context_total_bytes=40))
    assert not _call(small, "read_file", path="src/app.py").refused
    assert "one investigation may read" in _call(small, "read_file", path="src/util.py").text


def test_only_the_paths_given_are_visible(workspace: Workspace) -> None:
    scoped = dataclasses.replace(workspace, scopes=("src/app.py",))
    assert "outside the paths given" in _call(scoped, "read_file", path="src/util.py").text
    assert "outside the paths given" in _call(scoped, "read_file", path=".env").text  # not "named like a secret"
    assert _call(scoped, "list_dir", path="src").text.splitlines()[1:] == ["app.py 33 bytes"]


def test_citations_are_found_in_prose_and_urls_and_ports_are_not_taken_for_them() -> None:
    text = "See src/app.py:2, `mcp_server/x.py:10-20` and ./a.md:3; not http://host:80 or localhost:8000."
    found = [(c.path, c.start, c.end) for c in citations(text)]
    assert found == [("src/app.py", 2, 2), ("mcp_server/x.py", 10, 20), ("a.md", 3, 3)]


def test_line_numbers_count_newlines_only_as_editors_and_citations_do(workspace: Workspace) -> None:
    (workspace.root / "src/feed.py").write_text("a = 1\r\nb = '\x0c'\nc = 3\n")
    out = _call(workspace, "read_file", path="src/feed.py", start_line=3)
    assert out.text.splitlines()[1] == "3\tc = 3" and out.summary == "lines 3-3 of 3"


def test_a_listing_writes_each_folder_once_and_quotes_names_that_would_be_ambiguous(workspace: Workspace) -> None:
    (workspace.root / "src" / "two words.py").write_text("x = 1\n")
    (workspace.root / "src" / "deep").mkdir()
    (workspace.root / "src" / "deep" / "more.py").write_text("y = 2\n")
    found = _call(workspace, "glob", pattern="src/**/*.py").text.splitlines()
    listed = _call(workspace, "list_dir", path="src").text.splitlines()
    assert found == [
        "6 files",
        'src/: app.py legacy.py settings.py "two words.py" util.py',
        "src/deep/: more.py",
    ]
    assert "deep/" in listed and '"two words.py" 6 bytes' in listed
