"""Key redaction (issues 17 and 24): every printed form of a configured key is replaced whole, and every run of a
key's body that holds 64 bits (16 hex digits after `sk-`), in every result, error and log line.

Measured in this process on `mcp_server.policy.redaction.Redactor`, on 1 MiB of four kinds of text, against
the whole-key replacement it replaced (one `str.replace` per printed form of each key), which finds no piece. And the
timing channel: 1 MiB of guesses that hold 15 characters of a key's window beside the same characters shuffled
(what the redaction's time would teach a caller that gets its text echoed: it should be nothing, a ratio of 1).
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable

from harness import ROOT, median
from results import Result, Row, ms

from mcp_server.policy.redaction import Redactor, forms

MIB = 2**20
# Two keys in DeepSeek's and Atlas Cloud's shapes and an HTTP token: what a shared server redacts.
KEYS = ("sk-5e0b6d2f8a914c7e3b1d9f6a2c8e4b70", "apikey-0d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b", "Zq8sT2mV9xK4pL7wR1nB6cY3")


def texts() -> dict[str, str]:
    rnd = random.Random(17)
    code = "".join(path.read_text() for path in sorted((ROOT / "mcp_server").rglob("*.py")))
    return {
        "code (this repository's sources)": (code * (MIB // len(code) + 1))[:MIB],
        "random printable ASCII": "".join(rnd.choices(string.printable, k=MIB)),
        "random hex (the keys' own alphabet)": "".join(rnd.choices(string.hexdigits.lower(), k=MIB)),
        "runs of the key, nothing else": "".join(f"{KEYS[0][3 + i % 16 : 3 + i % 16 + 17]}-" for i in range(MIB // 18)),
    }


def whole_keys(text: str) -> str:
    for form in sorted({f for key in KEYS for f in forms(key)}, key=len, reverse=True):
        text = text.replace(form, "[redacted]")
    return text


def _timed(fn: Callable[[str], str], text: str, reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    return median(times)


def run(reps: int = 5) -> Result:
    redact = Redactor(KEYS)
    rows: list[Row] = []
    raw: dict[str, float] = {}
    for name, text in texts().items():
        ours, floor = _timed(redact, text, reps), _timed(whole_keys, text, reps)
        raw[name] = ours
        worst = name.startswith("runs")  # every match extended a character at a time in Python: linear, slower
        target = 1.0 if worst else 0.5
        rows.append(
            Row(
                f"redact 1 MiB: {name}",
                ms(ours),
                ms(floor),
                f"{(ours - floor) * 1000:+.1f} ms",
                f"{ours / floor:.0f}x",
                f"< {target * 1000:.0f} ms",
                ours < target,
            )
        )
    body = KEYS[0][3:18]
    near = (body + " ") * (MIB // 16)
    far = ("".join(random.Random(7).sample(body, len(body))) + " ") * (MIB // 16)
    times = {text: [] for text in (near, far)}  # interleaved, so a busy machine weighs on both alike
    for _ in range(reps * 3):
        for text, taken in times.items():
            taken.append(_timed(redact, text, 1))
    slow, fast = median(times[near]), median(times[far])
    raw["timing channel"] = slow / fast
    rows.append(
        Row(
            "redact 1 MiB: guesses holding 15 of a window's characters, beside them shuffled",
            ms(slow),
            ms(fast),
            f"{(slow - fast) * 1000:+.1f} ms",
            f"{slow / fast:.2f}x",
            "< 1.05x",
            slow / fast < 1.05,
        )
    )
    notes = [
        f"redaction: Redactor over 3 keys ({sum(len(k) for k in KEYS)} characters; the runs of their bodies that "
        "hold 64 bits, in every printed form, as one RE2 automaton per run length), median of "
        f"{reps} runs on 1 MiB each; floor: replacing the whole "
        "keys only (it finds no piece of a key). The fourth text is the worst case: every character is in a run of "
        "a key, so every match is extended character by character. Redaction runs on error messages (an error "
        "body is at most 64 KiB), log lines and every tool result."
    ]
    return Result(rows, raw, notes)
