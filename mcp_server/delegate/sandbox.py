"""The check's sandbox on Linux: bubblewrap (`bwrap`), when it is installed and works here.

Inside: the system read-only (`--ro-bind / /`), a fresh /dev, /proc (only the sandbox's own processes: not the
server's environment) and /tmp; no network (`--unshare-net`: not even 127.0.0.1), its own process and IPC
namespaces, and it dies with the server. What the user keeps is covered by empty folders, and the toolchain mounted
back read-only (mounts.py): the home folder and the other folders of users' files (other projects), the runtime
folders whose sockets are services outside (/run, XDG_RUNTIME_DIR), the secret places (~/.ssh, ~/.aws, ~/.config/gh,
/etc/ssh ...) and the files at the top of home named like secrets (~/.netrc, ~/.pgpass ...). The scratch copy is
mounted writable at the folder's own path, so the user's folder itself (its .env, its .git) is not visible and
absolute paths in the project resolve to the copy; its installed dependencies that the copy leaves out (.venv,
node_modules: names.DEPENDENCY_DIRS) are mounted read-only from the user's folder, so a command such as
`.venv/bin/python -m pytest` finds them; its tool state and build output (.idea, .terraform, .direnv) are not.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from mcp_server.policy.places import Places

from . import mounts

MAX_VENDORED = 64  # vendored folders mounted into the sandbox
PROBE_SECONDS = 10.0
_PROBED: dict[str, str | None] = {}


@dataclass(frozen=True)
class Sandbox:
    """What the sandbox of one check holds: the copy, where it appears, and what is hidden or mounted from outside."""

    bwrap: str
    tree: str  # the scratch copy (writable)
    workdir: str  # where it appears inside: the user's folder's own path
    root: str  # the user's folder, whose vendored folders are mounted read-only
    vendored: tuple[str, ...]  # their labels
    places: Places
    environment: Mapping[str, str] = field(default_factory=dict)  # the check's: PATH, XDG_RUNTIME_DIR, toolchains
    command: str = ""

    def prefix(self) -> list[str]:
        """bwrap and its arguments, up to the command it runs."""
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]  # noqa: S108
        home = self.places.home
        scratch = os.path.dirname(os.path.dirname(self.tree))  # <private folder>/delegate-*/tree
        covered = mounts.covered(home, self.workdir, self.environment.get("XDG_RUNTIME_DIR"), scratch)
        for folder in covered:
            args += ["--tmpfs", folder]
        if "/run" in covered:
            args += mounts.runtime_links()
        entries = mounts.programs(self.environment, self.command, self.root, self.vendored[:MAX_VENDORED])
        shown = mounts.toolchain(entries, covered, home, self.workdir, self.places)
        for folder in shown:
            args += ["--ro-bind", folder, folder]
        args += _hidden(self.places, covered, shown)
        args += ["--bind", self.tree, self.workdir]
        for label in self.vendored[:MAX_VENDORED]:
            source = os.path.join(self.root, label)
            if os.path.realpath(source) == source and not self.places.holds(source):  # not swapped for a link
                args += ["--ro-bind", source, os.path.join(self.workdir, label)]
        args += ["--chdir", self.workdir, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
        return [*args, "--"]


def usable(bwrap: str | None) -> str | None:
    """None when bubblewrap runs a sandbox here, else why not (missing, or refused: no user namespaces). Asked once
    per process and remembered (blocking: a worker thread)."""
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    if bwrap not in _PROBED:
        _PROBED[bwrap] = _probe(bwrap)
    return _PROBED[bwrap]


def _probe(bwrap: str) -> str | None:
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid"]
    try:
        done = subprocess.run(  # noqa: S603 - bwrap found on the server's own PATH at start-up, fixed arguments
            [*argv, "--die-with-parent", "/bin/true"],
            capture_output=True,
            timeout=PROBE_SECONDS,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap ({bwrap}) could not be started ({type(e).__name__})"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()[:200]
        return f"bubblewrap ({bwrap}) cannot make a sandbox here ({said or f'exit code {done.returncode}'})"
    return None


def _hidden(places: Places, covered: list[str], shown: list[str]) -> list[str]:
    """bwrap arguments covering each secret place that exists and is still visible (outside the covered folders,
    or in a toolchain folder mounted back) with an empty one (a folder: a tmpfs; a file: /dev/null), and each file
    at the top of home named like a secret."""
    args: list[str] = []
    for path in mounts.secret_files(places):
        inside = [folder for folder in (*covered, *shown) if path == folder or path.startswith(f"{folder}/")]
        if inside and max(inside, key=len) in covered:
            continue  # under an empty folder already
        try:
            info = os.stat(path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            args += ["--tmpfs", path]
        elif stat.S_ISREG(info.st_mode):
            args += ["--ro-bind", "/dev/null", path]
    return args
