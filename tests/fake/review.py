"""A scripted checker in the fake upstream: a request that offers the function `verdict` is a check of one review
finding or one cited claim (`investigate`'s audit), answered by the verdict the test gave for that finding's title or
that claim's words (checks run in parallel, so the answer depends on the request, not on the order of a script). A
check may first read: the calls scripted for its title are made on its first turn, the verdict given on the next."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

try:
    from tests.fake.agent import Call, Turn
except ImportError:  # standalone (`python tests/fake_upstream.py`)
    from fake.agent import Call, Turn  # type: ignore[no-redef,import-not-found]

# How mcp_server/review/findings.py `described` opens a finding: "Finding (high) at src/x.py:3-4: TITLE".
_FINDING = re.compile(r"^Finding \((?:high|medium|low)\) at [^\n]*?:[0-9-]+: ([^\n]*)$", re.MULTILINE)
# How mcp_server/agent/audit.py opens a claim: "Claim at src/x.py:3-4: WORDS".
_CLAIM = re.compile(r"^Claim at [^\n]*?:[0-9-]+: ([^\n]*)$", re.MULTILINE)


@dataclass
class Checker:
    """Verdicts by finding title: (holds, reason), or None for a checker that answers in text without calling
    `verdict`. A title not listed holds, with reason "confirmed"."""

    verdicts: dict[str, tuple[bool, str] | None] = field(default_factory=dict)
    latency: float = 0.0  # seconds before each verdict starts (a model's own time to first token)
    reads: dict[str, list[Call]] = field(default_factory=dict)  # calls a check makes before its verdict, by title
    checked: list[str] = field(default_factory=list)  # the titles, in the order the checks arrived
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def turn(self, messages: list[dict[str, Any]]) -> Turn:
        asked = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        found = _FINDING.findall(asked) or _CLAIM.findall(asked)
        title = found[-1] if found else ""
        if title in self.reads and not any(m.get("role") == "tool" for m in messages):
            return Turn(calls=list(self.reads[title]), reasoning="Let me read more.", latency=self.latency)
        with self._lock:
            self.checked.append(title)
        verdict = self.verdicts.get(title, (True, "confirmed"))
        if verdict is None:
            return Turn(content="It probably holds.", reasoning="Hmm.", latency=self.latency)
        holds, reason = verdict
        call = Call("verdict", {"holds": holds, "reason": reason})
        return Turn(calls=[call], reasoning="Checking the lines.", latency=self.latency)


def offers_verdict(tools: list[Any]) -> bool:
    names = [t.get("function", {}).get("name") for t in tools if isinstance(t, dict)]
    return "verdict" in names
