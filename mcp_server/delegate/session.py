"""One delegated change from start to end: the scratch copy made, the functions offered and handled, the check run,
the patch made and verified, and the copy removed.

How the tool uses it (mcp_server/tools/delegate.py; the blocking steps run in worker threads):

    session = Session.open(original, settings.scratch_dir)      # the copy of what the walls allow
    try:
        notice = session.arm(settings.check, settings.secrets, settings.serves_http)  # only when a check is to run
        notice = session.reapply(previous_patch)     # a follow-up starts from the conversation's change
        run = await loop.run(messages, Task(session.functions, session.handler(), max_steps, "task"))
        if session.needs_check:
            await session.check()                    # so the verification's check is about the patch returned
        verified = session.verified()                # the patch; applies, parses, the last check
    finally:
        session.close()                              # the copy removed, whatever happened

`original` is the user's folder as `investigate` opens it (a Workspace under the one policy); the model reads and
writes only the copy, through a Workspace whose one root is the copy. The user's folder is read twice more, never
written: when it is copied, and when the patch is checked against its current files.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from mcp_server.agent import READ_ONLY, Function, Handler, Outcome, Workspace, read_only
from mcp_server.agent.workspace import Refused
from mcp_server.core import threads
from mcp_server.core.config import CheckSettings
from mcp_server.core.errors import InputError
from mcp_server.policy.access import FileAccess
from mcp_server.policy.redaction import Redactor
from mcp_server.upstream.completion import ToolCall

from . import folders, sandbox
from .check import CheckRun, Runner
from .copy import Copied, copy_tree
from .edits import DELETE_FILE, EDIT_FILE, Editor
from .environment import scrubbed
from .patch import FilePatch, Rejected, apply, reverse
from .patch import parse as parse_patch
from .verify import Verification, changes_of, read_current, verify

RUN_CHECK = Function("run_check", "Run the project's check in your copy: its exit code and the end of its output.", {
    "type": "object", "properties": {}, "required": [],
})  # fmt: skip
MAX_CHECKS = 10  # run_check calls in one task (each may take DEEPSEEK_MCP_CHECK_SECONDS)


@dataclass
class Session:
    original: Workspace  # the user's folder: copied, and the patch checked against it; never written
    scratch: folders.Scratch
    copied: Copied
    workspace: Workspace  # the copy, its one root
    editor: Editor
    runner: Runner | None = None
    checks: list[CheckRun] = field(default_factory=list)
    _checked_at: int = -1  # the editor's count of writes when the last check ran

    @classmethod
    def open(cls, original: Workspace, base: str | None = None) -> Session:
        """Make the copy (blocking: a worker thread); the copy is removed again if making it fails."""
        scratch = folders.make(base)
        try:
            copied = copy_tree(original.root, scratch.tree, original.job(), original.scopes)
            if original.stop.is_set():  # cancelled while copying: nobody will close what is returned
                raise InputError("the call was cancelled while the scratch copy was made")
            tree = scratch.tree.resolve()
            access = FileAccess((tree,), original.files.remote)
            workspace = Workspace(tree, access, original.limits, original.scanner, original.places, original.scopes)
            return cls(original, scratch, copied, workspace, Editor(workspace))
        except BaseException:
            scratch.remove()
            raise

    @property
    def functions(self) -> tuple[Function, ...]:
        """What the model is offered: run_check only when a check will run."""
        return (*READ_ONLY, EDIT_FILE, DELETE_FILE, *((RUN_CHECK,) if self.runner is not None else ()))

    def handler(self) -> Handler:
        reads = read_only(self.workspace)
        offered = tuple(f.name for f in self.functions)

        async def handle(call: ToolCall) -> Outcome:
            if call.name not in offered:
                return _refused(f"there is no function {call.name[:100]!r}; the functions are {', '.join(offered)}")
            args = _arguments(call.arguments)
            if isinstance(args, Outcome):
                return args
            withheld = self._withheld(args.get("path"))
            if withheld is not None:
                return withheld
            if call.name == "run_check":
                return await self._run_check()
            if call.name in ("edit_file", "delete_file"):
                linked = self._linked(args.get("path"))
                if linked is not None:
                    return linked
                # Reading, scanning (twice: the file and its new text, up to 1 MiB each), writing and parsing: in a
                # worker thread, never on the event loop; finished even when cancelled, before the copy is removed.
                return await threads.run(self._write, call.name, args, abandon_on_cancel=False)
            return await reads(call)

        return handle

    def _withheld(self, path: Any) -> Outcome | None:
        """A path the copy left out (a secret, an unreadable file) is refused with the walk's reason, not as missing."""
        if not isinstance(path, str):
            return None
        parts = [part for part in path.strip().split("/") if part not in ("", ".")]
        for depth in range(1, len(parts) + 1):  # the path, or a folder on the way, left out of the copy
            skip = self.copied.withheld.get("/".join(parts[:depth]))
            if skip is not None:
                never = "; its content is never sent" if skip.secret else ""
                return _refused(
                    f"{'/'.join(parts)} is refused: {skip.path} was left out of the copy ({skip.reason}){never}"
                )
        return None

    def _linked(self, path: Any) -> Outcome | None:
        """A write to a path that is a symlink in the user's folder is refused: the copy holds its target's text
        under the link's name, but git stores the link, and `git apply` patches no file through one."""
        if not isinstance(path, str):
            return None
        label = "/".join(part for part in path.strip().split("/") if part not in ("", "."))
        target = self.copied.links.get(label)
        if target is None:
            return None
        return _refused(
            f"{label} is a symlink in the user's folder, to {target}; a patch cannot change a file "
            f"through a link: edit {target} itself"
        )

    def _write(self, name: str, args: dict[str, Any]) -> Outcome:
        try:
            if name == "edit_file":
                return self.editor.edit(args)
            return self.editor.delete(args)
        except (Refused, OSError) as e:
            return _refused(str(e) if isinstance(e, Refused) else f"the file could not be written ({e.strerror})")

    async def _run_check(self) -> Outcome:
        assert self.runner is not None
        if len(self.checks) >= MAX_CHECKS:
            return _refused(f"the check has run {MAX_CHECKS} times in this task, the most it may; finish now")
        done = await self.check()
        return Outcome(describe(done, for_model=True), "check passed" if done.passed else "check failed")

    async def check(self) -> CheckRun:
        assert self.runner is not None
        self._checked_at = len(self.editor.writes)
        done = await self.runner.run()
        self.checks.append(done)
        return done

    @property
    def needs_check(self) -> bool:
        """Whether a check must still run for the verification: none ran, or the copy changed since the last."""
        return self.runner is not None and self._checked_at != len(self.editor.writes)

    def verified(self) -> Verification:
        """The patch and its verification (blocking: reads the copy and the user's folder)."""
        changes, notes = changes_of(self.editor, self.workspace)
        return verify(changes, self.original, self.checks[-1] if self.checks else None, notes)

    def arm(self, check: CheckSettings, secrets: tuple[str, ...], remote: bool) -> str | None:
        """Make the check runnable (blocking: asks once whether bubblewrap works here); a notice when it runs without
        a sandbox, or, serving HTTP without one, why it does not run at all."""
        unsandboxed = sandbox.usable(check.bwrap)
        if unsandboxed is not None and remote:
            return (
                f"The check was not run: {unsandboxed}, and over HTTP a check runs only in a sandbox (code DeepSeek "
                "wrote for a remote caller would run as this server's user); install bubblewrap (Debian: bubblewrap)."
            )
        tree = str(self.workspace.root)
        root = str(self.original.root)
        environment = scrubbed(check.environment, secrets, self.workspace.scanner)
        box = sandbox.Sandbox(
            check.bwrap or "", tree, tree if root == "/" else root, root, tuple(self.copied.vendored),
            self.workspace.places, environment, check.command,
        )  # fmt: skip
        prefix = None if unsandboxed is not None else box.prefix()
        self.runner = Runner(
            check.command, check.seconds, tree, environment, prefix, Redactor(secrets), self.workspace.scanner
        )
        if unsandboxed is None:
            return None
        return (
            f"The check ran without a sandbox ({unsandboxed}): it could reach the network and read and write what "
            "this server's user can. Install bubblewrap (Debian: bubblewrap) to run it sandboxed."
        )

    def reapply(self, previous: str | None) -> str | None:
        """Start from the change an earlier turn of the conversation returned: applied to the copy when it still
        applies, skipped when the user's files already hold it; a notice when it can be neither (blocking)."""
        if not previous:
            return None
        try:
            results = [self._reapplied(part) for part in parse_patch(previous)]
            for label, before, after in results:
                if before != after:
                    self.editor.put(label, before, after if after is None else after.decode())
        except (ValueError, Refused, Rejected, OSError, UnicodeDecodeError) as e:
            return (
                f"The change this conversation made before no longer applies to your files ({str(e)[:200]}); this "
                "task started from your files as they are."
            )
        return None

    def _reapplied(self, part: FilePatch) -> tuple[str, bytes | None, bytes | None]:
        before = read_current(self.workspace, part.path)
        text = None if before is None else before.decode("utf-8")
        try:
            after = apply(part, text)
        except Rejected:
            apply(reverse(part), text)  # your files already hold it (Rejected again: they hold neither)
            return part.path, before, before
        return part.path, before, None if after is None else after.encode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.scratch.remove()


def describe(done: CheckRun, *, for_model: bool = False) -> str:
    """One check's outcome in words, and for the model the end of its output."""
    how = "passed" if done.passed else "timed out" if done.timed_out else f"failed (exit code {done.exit_code})"
    where = "in the sandbox" if done.sandboxed else "without a sandbox"
    head = f"The check `{done.command}` {how} in {done.seconds:.1f} s, {where}."
    if not for_model:
        return head
    return f"{head}\nThe end of its output:\n{done.output_tail}" if done.output_tail else f"{head} It printed nothing."


def _arguments(text: str) -> dict[str, Any] | Outcome:
    try:
        parsed = json.loads(text or "{}")
    except ValueError:
        return _refused('the arguments are not valid JSON; pass an object such as {"path": "src/app.py"}')
    return parsed if isinstance(parsed, dict) else _refused("the arguments must be a JSON object")


def _refused(reason: str) -> Outcome:
    return Outcome(f"Refused: {reason}.", f"refused: {reason[:120]}", refused=True)
