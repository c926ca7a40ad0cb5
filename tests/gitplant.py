"""A repository whose own configuration names a program under every key of `git help config` (git 2.39) that can
run one, spelled every way git reads it, and whose filter, diff and merge drivers carry hostile names (`=`, quotes,
dots, spaces, case, unicode). Each program creates its own marker file, so a test can tell which one ran."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.gitrepos import git, write

# Driver names a `-c filter.<name>.clean=` override gets wrong, and names that read as options or shell.
DRIVER_NAMES = (
    "x=y",
    "=",
    "a=b=c",
    'q"uote',
    "back\\slash",
    "dot.ted",
    "two.dots.here",
    "sp ace",
    "UPPER",
    "MiXeD",
    "ünïcödé",
    "日本",
    "-c",
    "--output=x",
    "$(id)",
    "lfs",
)
# The hooks githooks(5) lists; each is planted in .git/hooks and in core.hooksPath.
HOOKS = (
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit", "prepare-commit-msg",
    "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge", "pre-push", "pre-receive", "update",
    "proc-receive", "post-receive", "post-update", "reference-transaction", "push-to-checkout", "pre-auto-gc",
    "post-rewrite", "sendemail-validate", "fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist",
    "p4-post-changelist", "p4-pre-submit", "post-index-change",
)  # fmt: skip
# Keys that take a shell command or a program (the value), or a path to one; `{}` is replaced by the command.
COMMAND_KEYS = (
    "core.fsmonitor", "core.pager", "core.editor", "core.askPass", "core.sshCommand", "core.gitProxy",
    "core.alternateRefsCommand", "sequence.editor", "diff.external", "credential.helper",
    "credential.https://example.com.helper", "gpg.program", "gpg.openpgp.program", "gpg.x509.program",
    "gpg.ssh.program", "gpg.ssh.defaultKeyCommand", "uploadpack.packObjectsHook", "difftool.evil.cmd",
    "difftool.evil.path", "mergetool.evil.cmd", "mergetool.evil.path", "browser.evil.cmd", "browser.evil.path",
    "man.evil.cmd", "man.evil.path", "sendemail.sendmailcmd", "sendemail.toCmd", "sendemail.ccCmd",
    "trailer.evil.command", "trailer.evil.cmd", "imap.tunnel", "tar.evil.command", "guitool.evil.cmd",
    "hook.evil.command", "remote.origin.uploadpack", "remote.origin.receivepack", "receive.procReceiveRefs",
    "core.useBuiltinFSMonitor", "submodule.evil.update", "alias.diff", "alias.status", "alias.evil",
    "pager.diff", "pager.log", "pager.show", "pager.status", "pager.cat-file", "pager.ls-files", "pager.ls-tree",
    "pager.diff-tree", "pager.diff-index", "pager.rev-parse", "pager.merge-base", "pager.config",
    "pager.hash-object", "pager.grep",
)  # fmt: skip
# Settings that make git reach for the programs above (a signature to check, a tool to use, a transport to allow).
ENABLERS = {
    "log.showSignature": "true",
    "merge.verifySignatures": "true",
    "diff.tool": "evil",
    "merge.tool": "evil",
    "web.browser": "evil",
    "man.viewer": "evil",
    "hook.evil.event": "post-index-change",
    "protocol.allow": "always",
    "protocol.ext.allow": "always",
    "protocol.file.allow": "always",
    "remote.origin.url": "ext::sh -c {}",
    "remote.origin.vcs": "evil",
    "diff.submodule": "log",
    "status.submoduleSummary": "true",
    "fetch.recurseSubmodules": "true",
}


def marker_command(markers: Path, label: str) -> str:
    """A shell command that creates the marker `label`, then passes its input through (a filter's or a pager's)."""
    return f"touch {shlex.quote(str(markers / label))}; cat"


def plant(repo: Path, markers: Path) -> dict[str, int]:
    """Arm `repo` (a repository with a commit): every program-naming key, every hook, and drivers under each
    hostile name in .git/config, config.worktree and two included files. Returns the driver names that the
    repository's .gitattributes assign to files (`n0.py`, `n1.py`, ...), each with the number its markers end in
    (`clean-3`), so a test can see them armed."""
    markers.mkdir(exist_ok=True)
    numbered = {name: index for index, name in enumerate(DRIVER_NAMES)} | {"included=x": 90, "cond=x": 91, "wt=x": 92}
    assigned = {name: index for name, index in numbered.items() if " " not in name}  # a value ends at a space
    attributes = "".join(f"n{i}.py filter={name} diff={name} merge={name}\n" for i, name in enumerate(assigned))
    files = {".gitattributes": attributes} | {f"n{i}.py": f"N{i} = {i}\n" for i in range(len(assigned))}
    write(repo, files)
    git(repo, "add", "--", *files)
    git(repo, "commit", "-q", "-m", "planted", "--", *files)  # committed before the config is armed
    scripts = repo.parent / f"{repo.name}-scripts"
    scripts.mkdir(exist_ok=True)
    hooks = [repo / ".git" / "hooks", scripts / "hooks"]
    for folder in hooks:
        folder.mkdir(parents=True, exist_ok=True)
        for hook in HOOKS:
            _script(folder / hook, marker_command(markers, f"hook-{hook}"))
    _script(scripts / "fsmonitor", marker_command(markers, "fsmonitor-hook"))
    local = [_drivers(markers, index, name) for index, name in enumerate(DRIVER_NAMES)]
    local.append(_section("core", {"hooksPath": str(scripts / "hooks"), "repositoryformatversion": "1"}))
    local.append(_section("extensions", {"worktreeConfig": "true"}))
    local.append(_commands(markers, "local"))
    local.append(_section("include", {"path": str(scripts / "included.config")}))
    local.append(f'[includeIf "gitdir:{repo}/.git"]\n\tpath = {scripts / "conditional.config"}\n')
    with (repo / ".git" / "config").open("a") as config:
        config.write("\n".join(local))
    (scripts / "included.config").write_text(_commands(markers, "included") + _drivers(markers, 90, "included=x"))
    conditional = _section("core", {"fsmonitor": str(scripts / "fsmonitor")}) + _drivers(markers, 91, "cond=x")
    (scripts / "conditional.config").write_text(conditional)
    (repo / ".git" / "config.worktree").write_text(_commands(markers, "worktree") + _drivers(markers, 92, "wt=x"))
    return assigned


def _drivers(markers: Path, index: int, name: str) -> str:
    """filter, diff and merge drivers under `name`, their section and key names spelled in a case of their own."""
    spell = (str.lower, str.upper, str.title)[index % 3]
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    command = {key: marker_command(markers, f"{key}-{index}") for key in ("clean", "smudge", "process")}
    out = f'[{spell("filter")} "{quoted}"]\n'
    out += "".join(f"\t{spell(key)} = {value}\n" for key, value in command.items())
    out += f'[{spell("diff")} "{quoted}"]\n'
    out += f"\ttextconv = {marker_command(markers, f'textconv-{index}')}\n"
    out += f"\tcommand = {marker_command(markers, f'command-{index}')}\n"
    out += f'[merge "{quoted}"]\n\tdriver = {marker_command(markers, f"merge-{index}")}\n'
    return out


def _commands(markers: Path, where: str) -> str:
    lines = []
    for key in COMMAND_KEYS:
        section, _, name = key.rpartition(".")
        command = marker_command(markers, f"{where}-{key}")
        value = f"!{command}" if section in ("alias", "submodule.evil") else command
        lines.append(_entry(section, name, value))
    for key, value in ENABLERS.items():
        section, _, name = key.rpartition(".")
        lines.append(_entry(section, name, value.format(shlex.quote(f"touch {markers}/{where}-ext"))))
    return "".join(lines)


def _entry(section: str, name: str, value: str) -> str:
    head, _, sub = section.partition(".")
    title = f'[{head} "{sub}"]' if sub else f"[{head}]"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{title}\n\t{name} = "{escaped}"\n'


def _section(name: str, values: dict[str, str]) -> str:
    return f"[{name}]\n" + "".join(f'\t{key} = "{value}"\n' for key, value in values.items())


def _script(path: Path, command: str) -> None:
    path.write_text(f"#!/bin/sh\n{command} </dev/null >/dev/null\n")
    path.chmod(0o755)


def promisor(repo: Path, markers: Path) -> None:
    """Make `repo` a partial clone whose promisor remote runs a program to fetch what is missing (ext::, and a
    local path whose upload-pack is a program), with the blob its last commit added removed from the store."""
    blob = git(repo, "rev-parse", "HEAD:src/config.py").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    settings = {
        "core.repositoryformatversion": "1",
        "extensions.partialClone": "origin",
        "remote.origin.url": f"ext::sh -c {shlex.quote(f'touch {markers}/promisor-ext')}",
        "remote.origin.promisor": "true",
        "remote.origin.partialclonefilter": "blob:none",
        "remote.local.url": str(repo),
        "remote.local.promisor": "true",
        "remote.local.uploadpack": f"touch {markers}/promisor-uploadpack; git-upload-pack",
        "protocol.allow": "always",
        "protocol.ext.allow": "always",
        "protocol.file.allow": "always",
    }
    for key, value in settings.items():
        git(repo, "config", key, value)


def ran(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir()) if markers.exists() else []
