"""The folder `investigate` explores and `delegate` changes: the paths given; with none, the client's roots
(roots/list) when it offers them; else the server's working directory, only when that is a project folder
(policy/workdir.py). Otherwise the call is refused, saying to pass `paths`: a host that starts servers in `/` or the
home folder gets nothing read."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from mcp.server.mcpserver import ListRoots
from mcp.types import ListRootsResult

from mcp_server.core.config import FILE_ROOTS_ENV
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip
from mcp_server.serving.app import AppContext, ToolContext, app_of

from .files import job_for

if TYPE_CHECKING:
    from mcp_server.agent.workspace import Workspace


def client_roots(paths: list[str] | None, ctx: ToolContext) -> ListRoots | None:
    """Ask the client for its roots when `paths` is left out and it offers them (both protocol eras); else nothing."""
    if paths or app_of(ctx).settings.serves_http:
        return None
    offered = ctx.client_capabilities
    return ListRoots() if offered is not None and offered.roots is not None else None


def open_workspace(paths: Sequence[str] | None, roots: ListRootsResult | None, app: AppContext) -> Workspace:
    """The folder the paths share, checked by the same policy as `files` (blocking: runs in a worker thread)."""
    from mcp_server.agent.workspace import Workspace  # with the first call that needs a folder, not at start-up
    from mcp_server.context.gather import check_paths, resolve_target

    if not paths:
        if app.settings.serves_http:
            raise InputError(f"over HTTP, pass `paths`: folders inside {FILE_ROOTS_ENV} to investigate")
        paths = default_paths(roots, app)
    check_paths(paths, "paths")
    job = job_for(app)
    targets = [resolve_target(text, job) for text in dict.fromkeys(paths)]
    folders = [t.real if stat.S_ISDIR(t.info.st_mode) else t.real.parent for t in targets]
    root = Path(os.path.commonpath(folders))
    if not app.files.inside(root):
        raise InputError(f"the paths lie in different folders of {FILE_ROOTS_ENV}; investigate one folder at a time")
    scopes = tuple(dict.fromkeys(os.path.relpath(t.real, root).replace(os.sep, "/") for t in targets))
    scopes = ("",) if "." in scopes else scopes
    return Workspace(root, app.files, app.settings.limits, job.scanner, job.places, scopes)


def default_paths(roots: ListRootsResult | None, app: AppContext) -> list[str]:
    """The client's roots that are project folders, or the working directory when it is one; InputError else."""
    from mcp_server.core.config import MAX_PATHS
    from mcp_server.policy import home
    from mcp_server.policy.workdir import unfit_folder

    places = job_for(app).places
    mine = home()
    at_home = str(mine) if mine is not None else None
    offered = [_local(str(root.uri)) for root in (roots.roots if roots is not None else [])[:MAX_PATHS]]
    usable = [p for p in offered if p is not None and unfit_folder(os.path.realpath(p), at_home, places) is None]
    if usable:
        return usable
    here = os.path.realpath(job_for(app).base_dir)
    why = unfit_folder(here, at_home, places)
    if why is None:
        return [here]
    given = " (and the client's roots are not project folders either)" if any(offered) else ""
    raise InputError(
        f"no `paths` given, and the server's working directory, {clip(here)}, is {why}, not a project folder"
        f"{given}: pass `paths`, the project folders to work on"
    )


def _local(uri: str) -> str | None:
    """A root's folder on this machine (`file://` URIs only)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return unquote(parsed.path) or None
