"""What the check's sandbox shows of the machine: the system and the toolchain, never the user's data.

Code the model wrote runs in the check, and anything it can read it can print in a spelling no scanner knows (its
output goes to DeepSeek and to the caller); anything it can reach it can use. So covered by empty folders are:

- the folders where users keep files: the home folder, /home, /root, /srv, /mnt, /media, /var/tmp, /var/www and
  the top-level folder that holds the project (`/work` for `/work/app`; the project's parent when that top folder is
  a system one, `/var/www` for `/var/www/app`): another project's `.env`, a client's config holding a key;
- the runtime folders, /run (and /var/run) and XDG_RUNTIME_DIR: their Unix sockets are services outside the sandbox
  that no network namespace stops (the session bus and `systemd --user` would start a process outside, Docker's
  socket is root, the ssh and gpg agents sign and decrypt). The symlinks at the top of /run (NixOS's
  /run/current-system) are made again;
- the secret places and the files at the top of home named like secrets, as before, wherever they are.

The toolchain is mounted back read-only: the folder of each entry of the check's PATH, of the command's own program
when it is named by its path, and of the interpreters the project's vendored folders link to (`.venv/bin/python ->
~/.pyenv/versions/3.12/bin/python3.12`). Below home that is the whole folder at the top of home (`~/.pyenv`,
`~/.local`, `~/.cargo`: shims and proxies need their siblings); elsewhere the prefix (`/opt/tools` for
`/opt/tools/bin`). Never one that holds the project, lies in it, or is a secret place.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence

from mcp_server.policy import names
from mcp_server.policy.places import Places

# Folders of users' files, covered (not written to: S108 is about creating temporary files there).
DATA_ROOTS = ("/home", "/root", "/srv", "/mnt", "/media", "/run", "/var/run", "/var/tmp", "/var/www")  # noqa: S108
# Top-level folders of the system: the project's top folder is covered only when it is none of these.
SYSTEM = frozenset(
    {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt", "nix", "gnu", "snap", "var", "boot",
     "proc", "sys", "dev", "tmp"}
)  # fmt: skip
MOUNTED_BY_BWRAP = ("/proc", "/sys", "/dev", "/tmp")  # noqa: S108 - the sandbox's own fresh /tmp, not a file in it
# Variables that name a toolchain's folder (each mounted back under the same rules as PATH's folders).
TOOLCHAIN_VARIABLES = (
    "RUSTUP_HOME", "CARGO_HOME", "PYENV_ROOT", "NVM_DIR", "GOPATH", "GOROOT", "GOMODCACHE", "CONDA_PREFIX",
    "VIRTUAL_ENV", "JAVA_HOME", "SDKMAN_DIR", "DENO_DIR", "BUN_INSTALL", "VOLTA_HOME", "ASDF_DIR", "ASDF_DATA_DIR",
    "RBENV_ROOT", "UV_PYTHON_INSTALL_DIR", "PNPM_HOME", "GRADLE_USER_HOME", "DOTNET_ROOT", "ELAN_HOME", "OPAMROOT",
)  # fmt: skip
# Folders at the top of home a toolchain on PATH needs beside it, where they exist (rustup's toolchains).
COMPANIONS = (".rustup",)
MAX_TOOLCHAIN = 64  # folders mounted back
MAX_LINKS = 256  # entries of a vendored folder's bin/ looked at
_PREFIXED = ("bin", "sbin", "shims")  # a prefix's program folder: the prefix is mounted (its lib/ beside)


def covered(home: str | None, workdir: str, runtime: str | None, scratch: str | None = None) -> list[str]:
    """The folders the sandbox shows empty (real paths, existing folders, outermost first); `scratch` is the private
    folder of every run's copy (other runs' copies, other callers' over HTTP, wherever TMPDIR puts them)."""
    top = _top_folder(workdir)
    wanted = [*DATA_ROOTS, *(p for p in (home, runtime, top, scratch) if p)]
    found: list[str] = []
    for path in dict.fromkeys(os.path.realpath(p) for p in wanted):
        if os.path.isdir(path) and not path.startswith(MOUNTED_BY_BWRAP) and path != "/":
            found.append(path)
    outermost = [p for p in found if not any(_inside(p, q) and p != q for q in found)]
    return sorted(outermost)


def _top_folder(workdir: str) -> str | None:
    """The folder whose other projects the check must not see: the project's top-level folder, or its parent when
    that top folder is a system one (/var/www/app: /var/www)."""
    parts = [part for part in workdir.split("/") if part]
    if not parts:
        return None
    if parts[0] not in SYSTEM:
        return f"/{parts[0]}"
    return "/" + "/".join(parts[:-1]) if len(parts) > 2 else None


def toolchain(
    entries: Iterable[str], hidden: Sequence[str], home: str | None, workdir: str, places: Places
) -> list[str]:
    """The folders to mount back read-only for the programs in `entries` (folders or programs, absolute), within
    MAX_TOOLCHAIN: only those inside a covered folder, never the project's, a folder holding it, or a secret place."""
    found: list[str] = []
    for entry in entries:
        if not os.path.isabs(entry):
            continue
        real = os.path.realpath(entry)
        folder = _folder_of(real if os.path.isdir(real) else os.path.dirname(real), home, workdir)
        if folder is None or folder in found or not any(_inside(folder, h) and folder != h for h in hidden):
            continue
        if places.holds(folder) or folder == home:
            continue
        found.append(folder)
        if len(found) == MAX_TOOLCHAIN:
            break
    return [f for f in found if not any(_inside(f, g) and f != g for g in found)]


def _folder_of(real: str, home: str | None, workdir: str) -> str | None:
    """The toolchain folder of a program folder: the top of home's folder it lies in, else its prefix; None when
    that is the project, inside it, or holds it."""
    prefix = os.path.dirname(real) if os.path.basename(real) in _PREFIXED else real
    candidates = [prefix]
    if home is not None and _inside(real, home) and real != home:
        first = real[len(home) + 1 :].split("/")[0]
        candidates.insert(0, f"{home}/{first}")
    for folder in candidates:
        if not (_inside(folder, workdir) or _inside(workdir, folder)):
            return folder
    return None


def programs(environment: Mapping[str, str], command: str, root: str, vendored: Sequence[str]) -> list[str]:
    """Where the check's programs come from: PATH's folders, the toolchains' own variables (RUSTUP_HOME ...) and
    the folders they keep beside their programs by default (~/.rustup beside ~/.cargo), the command's program named
    by its path, and what the vendored folders' bin/ link to (a virtualenv's interpreter)."""
    entries = [entry for entry in environment.get("PATH", "").split(os.pathsep) if entry]
    entries += [environment[name] for name in TOOLCHAIN_VARIABLES if environment.get(name)]
    home = environment.get("HOME")
    if home and os.path.isabs(home):
        entries += [os.path.join(home, name) for name in COMPANIONS]
    try:
        first = shlex.split(command)[:1]
    except ValueError:
        first = []
    entries += [word for word in first if os.path.isabs(word)]
    for label in vendored:
        entries += _linked(os.path.join(root, label, "bin"))
    return entries


def _linked(folder: str) -> list[str]:
    found: list[str] = []
    try:
        with os.scandir(folder) as listing:
            for count, entry in enumerate(listing):
                if count == MAX_LINKS:
                    break
                if entry.is_symlink():
                    found.append(os.path.realpath(entry.path))
    except OSError:
        return []
    return found


def runtime_links() -> list[str]:
    """bwrap arguments making again the symlinks at the top of /run that the covering hides (NixOS keeps its system
    profile there: /run/current-system)."""
    args: list[str] = []
    for name in _names("/run"):
        path = f"/run/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
    return args


def secret_files(places: Places) -> list[str]:
    """The secret places that exist, and the files at the top of home named like secrets (real paths)."""
    paths = [p for p in places.paths if not p.startswith(MOUNTED_BY_BWRAP)]
    if places.home is not None:
        paths += [os.path.join(places.home, name) for name in _names(places.home) if names.secret_name(name)]
    return [p for p in dict.fromkeys(os.path.realpath(p) for p in paths) if not p.startswith(MOUNTED_BY_BWRAP)]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(f"{folder.rstrip('/')}/")


def _names(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []
