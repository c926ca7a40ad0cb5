"""What a file's content says: a private key or a recognisable API key means the file never leaves the machine.

Each pattern starts with a fixed literal and has only bounded repeats, so a search is linear in the text: a
megabyte of garbage costs one pass per literal, at C speed. The server's own configured keys are looked for too,
in every spelling redaction knows (a config file or a log that holds one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcp_server.policy.redaction import forms

# (what it is, literals one of which every match contains, the pattern). A text without any of the literals skips
# the regex: `in` runs at C speed, and most files hold none.
_PATTERNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("a private key", ("-----BEGIN",), r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"),
    ("a private key", ("PuTTY-User-Key-File-",), r"PuTTY-User-Key-File-\d"),
    ("an AWS access key", ("AKIA", "ASIA"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("a GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
    ("a GitHub token", ("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{22,255}"),
    ("a GitLab token", ("glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,64}"),
    # DeepSeek's keys are sk- and 32 hex digits; OpenAI's and Anthropic's add a prefix. A candidate must hold a
    # digit, so prose such as "sk-learn-style-pipelines-everywhere" is not taken for a key (checked in `finding`:
    # a lookahead here rescanned 200 characters at every `sk-` of a garbage file, 2 s a megabyte).
    ("an OpenAI, DeepSeek or Anthropic key", ("sk-",), r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,200}"),
    ("a Slack token", ("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,200}"),
    ("a Google API key", ("AIza",), r"\bAIza[0-9A-Za-z_-]{35}"),
    ("a Stripe secret key", ("_live_",), r"\b[sr]k_live_[0-9A-Za-z]{16,200}"),
    ("an npm token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("a PyPI token", ("pypi-AgE",), r"\bpypi-AgE[A-Za-z0-9_-]{50,400}"),
    ("a Hugging Face token", ("hf_",), r"\bhf_[A-Za-z0-9]{34,40}\b"),
)
_COMPILED = tuple((kind, literals, re.compile(pattern)) for kind, literals, pattern in _PATTERNS)


_LITERALS = sorted({literal for _, literals, _ in _PATTERNS for literal in literals})


@dataclass(frozen=True)
class Scanner:
    """Finds keys in text; built once per call with the server's own secrets."""

    own: tuple[str, ...] = ()
    # Every literal and every spelling of our own keys in one alternation: one pass over a text tells whether any
    # pattern can match at all, which for most files ends the search (measured in bench/files.py).
    gate: re.Pattern[str] = re.compile("|".join(re.escape(literal) for literal in _LITERALS))

    @classmethod
    def of(cls, secrets: tuple[str, ...]) -> Scanner:
        own = tuple(form for secret in secrets if secret for form in forms(secret))
        gate = re.compile("|".join(re.escape(needle) for needle in (*own, *_LITERALS)))
        return cls(own, gate)

    def finding(self, text: str) -> str | None:
        """What kind of secret `text` holds ("a private key", "a GitHub token", ...), or None."""
        if self.gate.search(text) is None:
            return None
        if any(form in text for form in self.own):
            return "this server's own API key or token"
        for kind, literals, pattern in _COMPILED:
            if any(literal in text for literal in literals) and _found(pattern, text, kind):
                return kind
        return None


def _found(pattern: re.Pattern[str], text: str, kind: str) -> bool:
    if kind != _SK_KIND:
        return pattern.search(text) is not None
    # Matches do not overlap, so one pass; a key has a digit, prose with dashes rarely does.
    return any(any(char.isdigit() for char in match.group()) for match in pattern.finditer(text))


_SK_KIND = "an OpenAI, DeepSeek or Anthropic key"
