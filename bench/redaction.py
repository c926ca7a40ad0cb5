"""Key redaction (issue 17): every run of 8 or more characters of a configured key is replaced in every error and
log line. Measured in this process on `mcp_server.policy.redaction.Redactor`, on 1 MiB of four kinds of text, against
the whole-key replacement it replaced (one `str.replace` per printed form of each key), which finds no piece.
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
        "pieces of the key, nothing else": "".join(f"{KEYS[0][i % 27 : i % 27 + 9]}-" for i in range(MIB // 10)),
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
        worst = name.startswith("pieces")  # every match extended a character at a time in Python: linear, slower
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
    notes = [
        f"redaction: Redactor over 3 keys ({sum(len(k) for k in KEYS)} characters; their 8-character pieces in "
        f"every printed form, as one trie regex), median of {reps} runs on 1 MiB each; floor: replacing the whole "
        "keys only, as before (it finds no piece of a key). The last text is the worst case: every character is in "
        "a piece of a key, so every match is extended character by character. Redaction runs on error messages "
        "(an error body is at most 64 KiB) and log lines, never on answers."
    ]
    return Result(rows, raw, notes)
