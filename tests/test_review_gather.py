"""Gathering a change for `review` from real git repositories: sides, renames, binaries, secrets, bounds, refusals,
and a repository whose own config names programs that must never run."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import subprocess
import tempfile
from pathlib import Path

import anyio
import pytest

from mcp_server.context import Job
from mcp_server.core.config import Limits, Settings
from mcp_server.core.errors import InputError
from mcp_server.policy import FileAccess, Scanner, home, secret_places
from mcp_server.review import diff, gather_change
from tests.gitrepos import ENV_LINE, GITHUB_TOKEN, SERVICE_V2, arm, git, make_repo, markers, write

pytestmark = pytest.mark.anyio


def job_in(folder: Path, roots: tuple[Path, ...] | None = None, **limits: int) -> Job:
    settings = Settings(file_roots=roots)
    bounds = dataclasses.replace(Limits(), **limits)
    return Job(
        folder, FileAccess.of(settings), bounds, bounds.max_context_tokens, Scanner.of(()), secret_places(home())
    )


async def test_uncommitted_changes_staged_unstaged_and_untracked_are_gathered_against_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    change = await gather_change(str(repo), None, job_in(repo))
    by_path = {f.path: f for f in change.files}
    assert change.sides.right is None and "against HEAD" in change.sides.shown
    assert by_path["src/service.py"].status == "modified" and by_path["src/service.py"].text == SERVICE_V2
    assert "-    return x + 3\n+    return x - 3  # changed" in by_path["src/service.py"].patch
    assert by_path["src/new_name.py"].old_path == "src/old_name.py" and by_path["src/new_name.py"].status == "renamed"
    assert by_path["src/fresh.py"].status == "added (not yet tracked)" and "+def fresh" in by_path["src/fresh.py"].patch
    assert by_path["logo.png"].summary.startswith("binary") and by_path["logo.png"].text is None
    assert list(by_path) == sorted(by_path)


async def test_a_changed_env_file_and_the_whole_diff_of_a_file_holding_a_key_are_withheld_and_named(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    change = await gather_change(str(repo), None, job_in(repo))
    reasons = {(s.path, s.reason) for s in change.skipped}
    assert (".env", "named like a file of keys or credentials (not sent)") in reasons
    withheld = "its diff and whole text withheld: after the change it holds a GitHub token (line 2)"
    assert ("src/config.py", withheld) in reasons
    config = change.file("src/config.py")
    assert config is not None and config.patch == "" and config.summary.startswith("withheld")
    assert GITHUB_TOKEN not in change.block and ENV_LINE not in change.block and ".env" in change.block
    assert "src/config.py" not in change.texts
    assert change.notices == (
        "Withheld as secrets, never sent: .env, src/config.py (see skipped); the review did not cover them.",
    )


async def test_a_clean_tree_is_reviewed_as_its_last_commit_against_its_parent(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "third")
    change = await gather_change(str(repo), None, job_in(repo))
    assert change.sides.shown.startswith("the last commit") and change.sides.right is not None
    assert "src/fresh.py" in change.texts and all(f.status != "added (not yet tracked)" for f in change.files)


async def test_a_range_and_a_single_ref_are_compared_as_git_diff_would(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    ranged = await gather_change(str(repo), "main~1..main", job_in(repo))
    assert [f.path for f in ranged.files] == ["src/config.py"] and ranged.texts["src/config.py"] == "TIMEOUT = 5\n"
    against = await gather_change(str(repo), "HEAD~1", job_in(repo))
    assert {"src/config.py", "src/service.py", "src/fresh.py"} <= {f.path for f in against.files}


@pytest.mark.parametrize("base", ["--output=/tmp/pwned", "-p", "main;rm", "a b", "HEAD:file"])
async def test_a_base_that_could_be_an_option_or_is_no_ref_is_refused_before_git_sees_it(
    tmp_path: Path, base: str
) -> None:
    repo = make_repo(tmp_path)
    with pytest.raises(InputError, match="is not a ref or a range"):
        await gather_change(str(repo), base, job_in(repo))
    assert not await anyio.Path("/tmp/pwned").exists()  # noqa: S108 - where the injected option would write


async def test_an_unknown_ref_a_folder_that_is_no_repository_and_an_empty_range_each_say_so(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    with pytest.raises(InputError, match="knows no commit 'no-such-branch'"):
        await gather_change(str(repo), "no-such-branch", job_in(repo))
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InputError, match="is not inside a git repository"):
        await gather_change(str(plain), None, job_in(plain))
    with pytest.raises(InputError, match="nothing to review: no difference"):
        await gather_change(str(repo), "main..main", job_in(repo))


async def test_a_repository_with_no_commit_and_no_change_has_nothing_to_review(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    with pytest.raises(InputError, match="no commit and no changes"):
        await gather_change(str(repo), None, job_in(repo))


async def test_the_repository_must_lie_inside_the_file_roots(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(InputError, match="DEEPSEEK_MCP_FILE_ROOTS"):
        await gather_change(str(repo), None, job_in(repo, roots=(elsewhere.resolve(),)))
    inside = await gather_change(str(repo / "src"), None, job_in(repo, roots=(repo.resolve(),)))
    assert inside.top == str(repo.resolve())


async def test_a_repository_whose_top_folder_is_above_the_roots_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    sub = (repo / "src").resolve()
    with pytest.raises(InputError, match="top folder"):
        await gather_change(str(sub), None, job_in(sub, roots=(sub,)))


async def test_a_second_work_tree_whose_shared_repository_is_outside_the_roots_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "stash", "-u", "-q")
    roots = (tmp_path / "roots").resolve()
    roots.mkdir()
    other = roots / "other"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(other))
    write(other, {"src/feature.py": "FEATURE = True\n"})
    with pytest.raises(InputError, match="git folder lies outside DEEPSEEK_MCP_FILE_ROOTS"):
        await gather_change(str(other), None, job_in(other, roots=(roots,)))
    both = await gather_change(str(other), None, job_in(other, roots=(roots, repo.resolve())))
    assert [f.path for f in both.files] == ["src/feature.py"]


async def test_a_repository_borrowing_objects_from_outside_the_roots_is_refused(tmp_path: Path) -> None:
    outside = make_repo(tmp_path)
    roots = (tmp_path / "roots").resolve()
    roots.mkdir()
    clone = roots / "clone"
    git(tmp_path, "clone", "-q", "--shared", str(outside), str(clone))  # objects/info/alternates -> outside
    write(clone, {"src/service.py": "CHANGED = 1\n"})
    with pytest.raises(InputError, match="alternate object store lies outside DEEPSEEK_MCP_FILE_ROOTS"):
        await gather_change(str(clone), None, job_in(clone, roots=(roots,)))
    objects = clone / ".git" / "objects"
    relative = f"../../../../{outside.name}/.git/objects"  # from roots/clone/.git/objects, back out of the roots
    (objects / "info" / "alternates").write_text(f"# a comment\n{relative}\n")  # as git joins it: out of the roots
    with pytest.raises(InputError, match="alternate object store lies outside"):
        await gather_change(str(clone), None, job_in(clone, roots=(roots,)))
    (objects / "info" / "alternates").write_text(f"# a comment\n{outside.resolve() / '.git' / 'objects'}\n")
    with_outside = await gather_change(str(clone), None, job_in(clone, roots=(roots, outside.resolve())))
    assert [f.path for f in with_outside.files] == ["src/service.py"]


async def test_a_repository_whose_pack_is_a_symlink_out_of_the_roots_is_refused(tmp_path: Path) -> None:
    outside = make_repo(tmp_path)
    git(outside, "gc", "-q")
    roots = (tmp_path / "roots").resolve()
    roots.mkdir()
    clone = roots / "clone"
    git(tmp_path, "clone", "-q", "--no-local", str(outside), str(clone))
    pack_dir = clone / ".git" / "objects" / "pack"
    pack = next(p for p in pack_dir.iterdir() if p.suffix == ".pack")
    moved = tmp_path / pack.name
    pack.rename(moved)
    pack.symlink_to(moved)  # git follows it and reads the commits from outside the roots
    with pytest.raises(InputError, match="linked pack or folder lies outside DEEPSEEK_MCP_FILE_ROOTS"):
        await gather_change(str(clone), "HEAD~1..HEAD", job_in(clone, roots=(roots,)))
    allowed = await gather_change(str(clone), "HEAD~1..HEAD", job_in(clone, roots=(roots, roots.parent)))
    assert allowed.files


async def test_a_repository_whose_git_folder_is_in_a_secret_place_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    keys = tmp_path / ".password-store"
    (repo / ".git").rename(keys)
    (project / ".git").write_text(f"gitdir: {keys}\n")
    with pytest.raises(InputError, match=r"git folder .* lies where keys, credentials or system files are kept"):
        await gather_change(str(project), None, job_in(project))


async def test_a_file_that_held_a_key_before_the_change_has_its_diff_withheld_and_its_new_text_sent(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"deploy.py": f"TOKEN = '{GITHUB_TOKEN}'\n" + "\n" * 20 + "STEPS = 1\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write(repo, {"deploy.py": f"TOKEN = '{GITHUB_TOKEN}'\n" + "\n" * 20 + "STEPS = 2\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    write(repo, {"deploy.py": "TOKEN = os.environ['TOKEN']\n" + "\n" * 20 + "STEPS = 2\n"})
    change = await gather_change(str(repo), None, job_in(repo))
    file = change.file("deploy.py")
    assert file is not None and file.patch == "" and file.text is not None and file.text.startswith("TOKEN = os")
    assert [(s.reason, s.secret) for s in change.skipped] == [
        ("its diff withheld: before the change it holds a GitHub token (line 1)", True)
    ]
    assert GITHUB_TOKEN not in change.block


def test_a_hunk_holding_a_key_is_withheld_from_a_diff_on_its_own() -> None:
    section = f"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+t = '{GITHUB_TOKEN}'\n@@ -9 +9 @@\n-b\n+c\n"
    kept, held = diff.withhold(section, Scanner.of(()))
    assert held == ["a GitHub token"] and GITHUB_TOKEN not in kept
    assert "[this hunk is withheld: it holds a GitHub token]" in kept and "-b\n+c\n" in kept


def test_a_section_holding_nul_or_text_that_was_not_utf8_is_binary() -> None:
    header = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n"
    assert diff.binary(header + "-a\x00\n+b\x00\n") and diff.binary(header + "+caf\ufffd\n")
    assert not diff.binary(header + "-a\n+caf\u00e9\n")


async def test_programs_named_by_the_repositorys_own_config_never_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    marker = tmp_path / "marker"
    arm(repo, marker)
    (repo / "src/service.py").touch()  # stat-dirty: git must look at the content, through the filter if it can
    change = await gather_change(str(repo), None, job_in(repo))
    await gather_change(str(repo), "HEAD~1..HEAD", job_in(repo))
    assert markers(marker) == []
    assert change.file("src/service.py") is not None
    # The same repository makes a plain `git diff` run them: the test would catch a missing override.
    with contextlib.suppress(subprocess.CalledProcessError):  # the required filter fails, after it ran
        git(repo, "diff", "HEAD")
    assert "marker-fsmonitor" in markers(marker) and "marker-process" in markers(marker)


async def test_a_filter_defined_in_a_file_the_repository_config_includes_is_blanked_too(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    marker = tmp_path / "marker"
    write(repo, {".gitattributes": "*.py filter=inc\n", "extra.config": f'[filter "inc"]\n\tclean = touch {marker}\n'})
    git(repo, "config", "include.path", "../extra.config")
    (repo / "src/service.py").touch()
    await gather_change(str(repo), None, job_in(repo))
    assert markers(marker) == []


async def test_files_past_the_file_bound_are_named_not_reviewed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    change = await gather_change(str(repo), None, job_in(repo, review_files=3))
    assert len(change.files) + sum(s.path in (".env",) for s in change.skipped) <= 3
    assert any("past the 3-file bound" in s.reason for s in change.skipped)
    assert any(n.startswith("Not reviewed: ") and "3-file bound" in n for n in change.notices)


async def test_a_diff_over_its_line_bound_names_the_bound(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    with pytest.raises(InputError, match="over the 5 one review sends"):
        await gather_change(str(repo), None, job_in(repo, review_diff_lines=5))


async def test_git_printing_past_its_byte_bound_is_stopped_with_the_bound_named(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write(repo, {"src/big.py": "x = 1\n" * 5000})
    git(repo, "add", "src/big.py")
    with pytest.raises(InputError, match="printed more than"):
        await gather_change(str(repo), None, job_in(repo, review_diff_bytes=2000))


async def test_new_untracked_files_count_against_the_diff_byte_bound_too(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write(repo, {"src/big.py": "x = 1\n" * 5000})
    with pytest.raises(InputError, match=r"more than 19\.5 KiB|over the 19\.5 KiB one review sends"):
        await gather_change(str(repo), None, job_in(repo, review_diff_bytes=20_000))


async def test_a_file_past_the_size_cap_is_summarised(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write(repo, {"src/service.py": "y = 2\n" * 400})
    change = await gather_change(str(repo), None, job_in(repo, context_file_bytes=1000))
    service = change.file("src/service.py")
    assert service is not None and service.summary.startswith("larger than") and service.patch == ""


async def test_a_second_work_tree_is_reviewed_on_its_own_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "stash", "-u", "-q")
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(other))
    write(other, {"src/feature.py": "FEATURE = True\n"})
    change = await gather_change(str(other), None, job_in(other))
    assert [f.path for f in change.files] == ["src/feature.py"] and change.top == str(other.resolve())


async def test_the_block_is_the_same_bytes_for_the_same_change(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    first = await gather_change(str(repo), None, job_in(repo))
    os.utime(repo / "src/service.py")
    second = await gather_change(str(repo), None, job_in(repo))
    assert first.block == second.block and str(tmp_path) not in first.block


async def test_gathering_past_its_time_bound_names_the_bound(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    with pytest.raises(InputError, match=r"took more than 1e-06 s"):
        await gather_change(str(repo), None, job_in(repo, review_seconds=1e-6))  # type: ignore[arg-type]


async def test_a_new_symlink_out_of_the_repository_is_named_and_never_followed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("OUTSIDE-THE-REPOSITORY\n")
    (repo / "link.txt").symlink_to(outside)
    change = await gather_change(str(repo), None, job_in(repo))
    link = change.file("link.txt")  # git records a symlink's target path as its content: that is its diff
    assert link is not None and link.text is None and link.patch.endswith(f"+{outside}\n\\ No newline at end of file\n")
    assert "OUTSIDE-THE-REPOSITORY" not in change.block


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
async def test_the_working_tree_is_read_as_git_would_record_it(tmp_path: Path, object_format: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", f"--object-format={object_format}")
    write(repo, {"a.txt": "one\n", "gone.txt": "g\n", "run.sh": "echo\n", "dir/f.txt": "f\n", "same.txt": "s\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write(repo, {"new\nline.txt": "nl\n", "later.txt": "intent\n", "a.txt": "two\n"})
    git(repo, "add", "-N", "later.txt")  # intent to add: the index holds an id git never wrote
    (repo / "gone.txt").unlink()
    (repo / "run.sh").chmod(0o755)
    (repo / "same.txt").touch()  # stat data changed, content not: unchanged
    (repo / "dir/f.txt").unlink()
    (repo / "dir").rmdir()
    (repo / "dir").symlink_to("/etc")  # a folder replaced by a symlink: its files are gone, /etc is never read
    change = await gather_change(str(repo), None, job_in(repo))
    status = {f.path: f.status for f in change.files}
    assert status == {
        "a.txt": "modified",
        "dir": "added (not yet tracked)",
        "dir/f.txt": "deleted",
        "gone.txt": "deleted",
        "later.txt": "added",
        "new\nline.txt": "added (not yet tracked)",
        "run.sh": "modified",
    }
    assert "old mode 100644\nnew mode 100755" in (change.file("run.sh") or change.files[0]).patch
    assert change.texts["later.txt"] == "intent\n" and "+/etc" in (change.file("dir") or change.files[0]).patch


async def test_a_file_with_merge_conflicts_is_reviewed_as_it_stands_and_says_so(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"c.txt": "base\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "checkout", "-q", "-b", "other")
    write(repo, {"c.txt": "other\n"})
    git(repo, "commit", "-q", "-a", "-m", "other")
    git(repo, "checkout", "-q", "main")
    write(repo, {"c.txt": "mine\n"})
    git(repo, "commit", "-q", "-a", "-m", "mine")
    with contextlib.suppress(subprocess.CalledProcessError):
        git(repo, "merge", "-q", "other")
    change = await gather_change(str(repo), None, job_in(repo))
    [conflicted] = change.files
    assert conflicted.status == "unmerged" and "+<<<<<<< HEAD" in conflicted.patch and "+other" in conflicted.patch


async def test_the_object_store_of_the_working_tree_is_removed_whether_gathering_succeeds_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    repo = make_repo(tmp_path)
    await gather_change(str(repo), None, job_in(repo))
    with pytest.raises(InputError):
        await gather_change(str(repo), None, job_in(repo, review_diff_lines=5))
    with pytest.raises(InputError):
        await gather_change(str(repo), None, job_in(repo, review_seconds=1e-3))  # type: ignore[arg-type]
    assert list(scratch.iterdir()) == []


async def test_git_stopped_by_its_deadline_mid_spawn_is_reaped_never_left_running(tmp_path: Path) -> None:
    # Deadlines of 1 us to 7 ms land in the spawn itself: there, asyncio's child was left unwatched, an unclosed pipe
    # and a running Popen at the next garbage collection (pytest's unraisable hook fails this test on them).
    repo = make_repo(tmp_path)
    for attempt in range(120):
        seconds = 10 ** -(3 + attempt % 4) * (1 + attempt % 7)
        with contextlib.suppress(InputError):
            await gather_change(str(repo), None, job_in(repo, review_seconds=seconds))  # type: ignore[arg-type]
        gc.collect()
