"""Blocking work on anyio's worker threads, each thread counted against the calling owner's share of them.

anyio runs every `to_thread.run_sync` of the process on one pool of 40 threads. A tool call that runs its blocking
work (walking and reading files, grep, opening an OCR source, checking citations, reading git's output) through
`run` holds one token of its owner's share for as long as the thread works, and that includes a thread its call
abandoned when it was cancelled: a slow grep or a hung read keeps counting against its owner until it returns. So
one owner (an HTTP token) holds at most its share, and the other owners keep the rest of the pool.

    with threads.share(app.threads_for(owner)):   # serving sets this around every tool call
        ...
        text = await threads.run(read, path)       # anywhere below, in any task the call starts

A call may wait for a token, or for a thread of the pool; `waited()` says how long the current call has waited in
all, so a clock that bounds the work itself (`Job.check_time`) does not spend the caller's time on the queue.
Outside a tool call (no share set) `run` is anyio's `to_thread.run_sync`, abandoned on cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Generic, TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass
class _Call:
    """One tool call's share of the threads, and the seconds it has waited for them."""

    limiter: anyio.CapacityLimiter
    waited: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_wait(self, seconds: float) -> None:
        with self.lock:
            self.waited += seconds


_CALL: ContextVar[_Call | None] = ContextVar("deepseek_mcp_thread_share", default=None)


@contextmanager
def share(limiter: anyio.CapacityLimiter) -> Iterator[None]:
    """Blocking work run through `run` in this context (and the tasks started from it) holds `limiter`'s tokens."""
    token = _CALL.set(_Call(limiter))
    try:
        yield
    finally:
        _CALL.reset(token)


def waited() -> float:
    """Seconds the current call has waited for worker threads so far (0 outside a tool call)."""
    call = _CALL.get()
    return call.waited if call is not None else 0.0


async def run(
    fn: Callable[[Unpack[Ts]], T],
    *args: *Ts,
    limiter: anyio.CapacityLimiter | None = None,
    abandon_on_cancel: bool = True,
    discard: Callable[[T], object] | None = None,
) -> T:
    """`fn(*args)` on a worker thread, within the call's share; `limiter` is a further bound of the caller's own.

    Cancelled, the call returns at once and abandons the thread, which keeps its token until `fn` returns; a result
    that arrives after the call left goes to `discard` (close the file it opened, remove the temporary file it
    wrote). Work that can stop early should watch a flag the caller sets on cancel (`Job.stop`). Work that must
    not be left behind (a budget held around it) passes `abandon_on_cancel=False`."""
    call = _CALL.get()
    asked = time.monotonic()
    borrower = object()
    if call is not None:
        await call.limiter.acquire_on_behalf_of(borrower)
    hand: _Hand[T] = _Hand(call, borrower, asyncio.get_running_loop(), discard)
    try:
        return await anyio.to_thread.run_sync(
            hand.work, fn, asked, *args, abandon_on_cancel=abandon_on_cancel, limiter=limiter
        )
    finally:
        hand.leave()


@dataclass
class _Hand(Generic[T]):
    """Who gives a token back, and who has a late result: the event loop when its thread never started or has
    finished, else the thread, when it finishes, for a call that left it behind."""

    call: _Call | None
    borrower: object
    loop: asyncio.AbstractEventLoop
    discard: Callable[[T], object] | None
    phase: str = "queued"  # -> "running" -> "done"; or "dropped" when the call left before the thread started
    abandoned: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def work(self, fn: Callable[[Unpack[Ts]], T], asked: float, *args: *Ts) -> T:
        with self.lock:
            if self.phase == "dropped":  # the call has gone and given the token back: no one wants the result
                raise RuntimeError("the call left before its thread started")
            self.phase = "running"
        if self.call is not None:
            self.call.add_wait(time.monotonic() - asked)
        result: T | None = None
        try:
            result = fn(*args)
            return result
        finally:
            with self.lock:
                self.phase = "done"
                left = self.abandoned
            if left:
                if result is not None and self.discard is not None:
                    with contextlib.suppress(Exception):
                        self.discard(result)
                with contextlib.suppress(RuntimeError):  # the event loop has closed: no one waits for the token
                    self.loop.call_soon_threadsafe(self._give_back)

    def leave(self) -> None:
        """The call is done with its thread, by its answer or by a cancel."""
        with self.lock:
            if self.phase == "running":
                self.abandoned = True
                return
            self.phase = "dropped" if self.phase == "queued" else self.phase
        self._give_back()

    def _give_back(self) -> None:
        if self.call is not None:
            self.call.limiter.release_on_behalf_of(self.borrower)
