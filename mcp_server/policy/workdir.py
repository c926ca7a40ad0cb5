"""Whether a folder nobody named may stand in for the paths a call left out: the server's working directory is read
by default only when it is a project folder. A host that starts servers in `/`, in the home folder or in a system
folder must not have that folder explored (and its files sent) because a caller omitted `paths`.
"""

from __future__ import annotations

from pathlib import PurePath

from mcp_server.policy.places import Places

# Folders that hold no project, themselves: the tops of the file system and of where people and programs live.
_NOT_PROJECTS = frozenset((
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/private", "/private/tmp", "/private/var", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys",
    "/tmp",  # noqa: S108  # a name compared, no file made there
    "/usr", "/usr/local", "/Users", "/var",
    "/var/tmp",  # noqa: S108  # a name compared, no file made there
    "/Volumes", "/Applications", "/Library", "/System",
))  # fmt: skip
# Folders below which no project lives: system software, its data and logs.
_SYSTEM = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin", "/sys",
    "/usr/bin", "/usr/include", "/usr/lib", "/usr/libexec", "/usr/sbin", "/usr/share", "/var/cache", "/var/lib",
    "/var/log", "/var/mail", "/var/spool", "/Library", "/System", "/private/etc", "/private/var/db",
)  # fmt: skip


def unfit_folder(real: str, home: str | None, places: Places) -> str | None:
    """Why `real` (a real path) is no project folder to explore unasked, or None when it may be."""
    path = PurePath(real)
    if str(path) in _NOT_PROJECTS or path.parent == path:
        return "the top of the file system or of a system area"
    if home is not None:
        if str(path) == home:
            return "the home folder itself"
        if PurePath(home).is_relative_to(path):
            return "a folder that holds the home folder"
    if any(path.is_relative_to(system) for system in _SYSTEM):
        return "a system folder"
    if places.holds(real):
        return "a place where keys or credentials are kept"
    return None
