"""Profile deepseek-mcp's hot paths over stdio with py-spy: `.venv/bin/python bench/profile.py [WORKLOAD]`.

Needs py-spy (`.venv/bin/pip install py-spy`; a tool for this, not a project dependency). Starts the fake upstream
and deepseek-mcp as bench/run.py does, attaches py-spy to the server process while the client drives one workload,
and prints where the server spent its CPU (idle waiting is not sampled): the functions with the most samples
including their callees, and the most by themselves. `--out FILE` keeps the collapsed stacks (for flamegraph.pl or
speedscope).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
from harness import Bench, Fake, answer, require_install, server_pids, session, subject_from
from mcp import Client

WORKLOADS = ("short", "stream", "concurrent")


async def drive(workload: str, client: Client, b: Bench) -> None:
    if workload == "short":
        for _ in range(2000):
            await answer(client, b.subject)
    elif workload == "stream":
        content = " ".join(f"w{n}" for n in range(2000))
        for _ in range(40):
            await b.fake.script({"content": content})
            await answer(client, b.subject)
    else:
        for _ in range(10):
            await b.fake.script(*[{"stall_before_headers": 0.2}] * 50)
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(answer, client, b.subject)


def report(collapsed: Path, top: int) -> str:
    """Sample counts per function (including callees, and by itself) and per package, from py-spy's collapsed
    stacks ("a;b;c COUNT" lines). Only the event loop's thread while busy: worker threads parked on stdin and the
    loop waiting in select() are idle, not cost."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames or not count.isdigit() or frames[0].startswith("Thread._bootstrap"):
            continue
        if frames[-1].startswith("EpollSelector.select"):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n

    def lines(counter: collections.Counter[str], limit: int) -> list[str]:
        return [f"{100 * n / max(total, 1):5.1f}%  {name}" for name, n in counter.most_common(limit)]

    return "\n".join(
        [
            f"{total} busy samples on the event loop's thread",
            "\nby package (self):",
            *lines(packages, 15),
            "\ninclusive:",
            *lines(inclusive, top),
            "\nself:",
            *lines(own, top),
        ]
    )


def _package(frame: str) -> str:
    """`fn (pkg/mod.py:12)` -> `pkg`; the standard library's modules are named by their top-level module."""
    where = frame.rpartition("(")[2].rstrip(")")
    path = where.rpartition(":")[0]
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=WORKLOADS, nargs="?", default="short")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--subject", help="command to profile instead of .venv/bin/deepseek-mcp")
    args = parser.parse_args()
    require_install()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    out = args.out or Path(tempfile.mkstemp(prefix="deepseek-mcp-", suffix=".collapsed")[1])
    fake = Fake()
    try:
        with tempfile.TemporaryFile("w+") as errlog:
            b = Bench(fake, errlog, subject=subject_from(args.subject))
            anyio.run(profile, args.workload, b, py_spy, out)
    finally:
        fake.close()
    print(report(out, args.top))
    print(f"\ncollapsed stacks: {out}")
    return 0


async def profile(workload: str, b: Bench, py_spy: str, out: Path) -> None:
    before = set(server_pids({b.fake.pid}))
    async with session(b, b.subject) as client:
        (pid,) = set(server_pids({b.fake.pid})) - before
        await answer(client, b.subject)  # warm: the first call's lazy imports and connection are not the hot path
        command = [py_spy, "record", "--pid", str(pid), "--rate", "1000", "--format", "raw", "--output", str(out)]
        async with await anyio.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as spy:
            try:
                await anyio.sleep(0.5)  # py-spy attaches
                await drive(workload, client, b)
            finally:
                spy.send_signal(signal.SIGINT)
                await spy.wait()
        await b.fake.aclose()


if __name__ == "__main__":
    sys.exit(main())
