"""Keeping keys out of everything the server writes: tool results, errors and every log record.

A key can surface in more than its plain form: `repr()` of a header (`b'Bearer sk-...'`), a JSON string, an
exception message quoting either. Keys are validated as printable ASCII when settings are read, so these forms
differ from the plain one only in escaped quotes and backslashes; all of them are replaced.
"""

from __future__ import annotations

import json
import logging

MARKER = "[redacted]"


def forms(secret: str) -> tuple[str, ...]:
    """Every spelling of `secret` that Python or JSON may print, longest first."""
    spelled = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "backslashreplace"))[2:-1]}
    spelled.add(json.dumps(secret)[1:-1])
    return tuple(sorted((s for s in spelled if s), key=len, reverse=True))


class Redactor:
    """Replaces every configured secret, in each of its forms."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._forms = tuple(form for secret in secrets if secret for form in forms(secret))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MARKER)
        return text


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by a marker."""
    return Redactor(secrets)(text)


class RedactingFilter(logging.Filter):
    """Replaces every configured key in log records, whatever logger wrote them (ours, the SDK's, httpx's)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._redact:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            redacted = self._redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_text:
                record.exc_text = self._redact(record.exc_text)
        return True
