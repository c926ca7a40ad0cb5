"""What a walk decides about an entry without reading it: a folder entered or not, a file found or skipped, and why.

A symlink to a file is judged under both its names: its own (a secret's name, gitignored, generated) and its
target's, exactly as the same walk would judge the target if it reached it from its top: every folder on the way (a
key folder, a folder of secrets, `.git`, node_modules, a gitignored or virtualenv folder), then the file itself, and,
for `investigate`, whether the target lies among the paths given. So `docs/setup.md -> ../secrets/db_password` is
skipped because `secrets/db_password` would be, and `docs/x.md -> ../.git/config` because `.git/` is never entered.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcp_server.context.ignore import Rules, rules_above
from mcp_server.context.model import Job
from mcp_server.core.config import FILE_ROOTS_ENV
from mcp_server.core.quoting import format_size
from mcp_server.policy import names

Reason = tuple[str, bool]  # why an entry is skipped, and whether because it is (or may be) a secret


@dataclass(frozen=True)
class Target:
    """A symlink's target that the walk would read: its real path and what stat says of it."""

    real: str
    info: os.stat_result


class Judge:
    """The reasons of one walk, with the .gitignore rules inside each folder it met (link targets reuse them)."""

    def __init__(self, job: Job, visible: Callable[[str, bool], bool] | None = None) -> None:
        self.job = job
        self.visible = visible
        self.top = Path("/")
        self._rules: dict[str, Rules] = {}
        self._verdicts: dict[str, Reason | None] = {}  # folders judged on the way to a link's target

    def at(self, top: Path) -> None:
        """The walk starts from `top` (a real path): link targets are judged from there."""
        if top != self.top:
            self.top = top
            self._rules.clear()
            self._verdicts.clear()

    def above(self, top: Path) -> Rules:
        """The .gitignore rules that apply in `top` from the folders above it, up to its repository's top."""
        return rules_above(top, lambda folder: self.job.files.inside(folder))

    def entering(self, rules: Rules, folder: str) -> Rules:
        """The rules inside `folder`, given those of its parent (remembered)."""
        inside = self._rules.get(folder)
        if inside is None:
            inside = self._rules[folder] = rules.entering(folder)
        return inside

    def folder_reason(self, name: str, real: str, rules: Rules) -> Reason | None:
        """Why the walk does not enter a folder, or None."""
        if self.job.places.holds(real):
            return "a folder of keys or credentials", True
        if names.secret_folder(name):
            return "a folder of secrets", True
        if names.skipped_dir(name):
            return "a vendored, generated or tool folder", False
        if rules.ignored(real, True):
            return "gitignored", False
        if os.path.lexists(f"{real}/{names.VENV_MARKER}"):
            return "a virtualenv", False
        return None

    def file_reason(self, name: str, real: str, rules: Rules, info: os.stat_result) -> Reason | None:
        """Why the walk does not read a file, or None."""
        return self._name_reason(name, real, rules, info) or self._kind_reason(info)

    def _name_reason(self, name: str, real: str, rules: Rules, info: os.stat_result) -> Reason | None:
        """What a file's name, its folder's name and the .gitignore rules say (a secret's identity is remembered:
        a hard link to it elsewhere is refused too)."""
        if names.secret_name(name) or names.bare_secret(os.path.basename(os.path.dirname(real)), name):
            self.job.secret_ids.add((info.st_dev, info.st_ino))
            return "named like a secret", True
        if rules.ignored(real, False):
            return "gitignored", False
        if names.generated_name(name) or name in names.VCS:
            return "a lock file, generated or version-control file", False
        return None

    def _kind_reason(self, info: os.stat_result) -> Reason | None:
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file (a device, pipe or socket)", False
        if info.st_size > self.job.limits.context_file_bytes:
            return f"larger than {format_size(self.job.limits.context_file_bytes)} (the cap per file)", False
        return None

    def link(self, real: str, rules: Rules) -> Target | tuple[str, bool, bool]:
        """A symlink in a folder whose rules are `rules`: the Target to read under the link's label, or why not
        (reason, secret, whether the target is a folder)."""
        try:
            target = os.path.realpath(real, strict=True)
            info = os.stat(target)
        except (OSError, RuntimeError):
            return ("gitignored" if rules.ignored(real, False) else "a broken symlink"), False, False
        own = self._name_reason(os.path.basename(real), real, rules, info)
        if own is not None:
            return *own, False
        if not self.job.files.inside(Path(target)):
            return f"a symlink to a path outside {FILE_ROOTS_ENV}", False, False
        if not Path(target).is_relative_to(self.top):
            # A repository's `notes.md -> ~/.config/...` must not carry that file out; name it directly to send it.
            return "a symlink out of the folder given (not followed)", False, False
        if stat.S_ISDIR(info.st_mode):
            return "a symlink to a folder (not followed)", False, True
        reason = self._target_reason(target, info)
        return Target(target, info) if reason is None else (*reason, False)

    def _target_reason(self, target: str, info: os.stat_result) -> Reason | None:
        """A link's target (a real path below the top) judged folder by folder from the top, then as a file."""
        shown = os.path.relpath(target, self.top).replace(os.sep, "/")
        folder = os.path.dirname(target)
        way = self._way(folder)
        if way is not None:
            where, (why, secret) = way
            return f"a symlink to {shown}, which is skipped: {where} is {why}", secret
        if self.visible is not None and not self.visible(shown, False):
            return f"a symlink to {shown}, outside the paths given", False
        reason = self.file_reason(os.path.basename(target), target, self._rules_in(folder), info)
        if reason is not None:
            return f"a symlink to {shown}, which is {reason[0]}", reason[1]
        if self.job.places.holds(target):
            return "a symlink to a secret", True
        return None

    def _way(self, folder: str) -> tuple[str, Reason] | None:
        """The first folder between the top and `folder` (both real paths) that the walk would not enter, and why."""
        top = str(self.top)
        relative = os.path.relpath(folder, top)
        if relative == ".":
            return None
        here = top
        for name in relative.split(os.sep):
            parent, here = here, os.path.join(here, name)
            if here not in self._verdicts:
                self._verdicts[here] = self.folder_reason(name, here, self._rules_in(parent))
            verdict = self._verdicts[here]
            if verdict is not None:
                return f"{os.path.relpath(here, top).replace(os.sep, '/')}/", verdict
        return None

    def _rules_in(self, folder: str) -> Rules:
        """The .gitignore rules inside `folder` (a real path at or below the top), from those already met."""
        top = str(self.top)
        chain: list[str] = []
        here = folder
        while here not in self._rules and here != top and here.startswith(f"{top.rstrip('/')}/"):
            chain.append(here)
            here = os.path.dirname(here)
        rules = self._rules.get(here) or self.entering(self.above(self.top), top)
        for inner in reversed(chain):
            rules = self.entering(rules, inner)
        return rules
