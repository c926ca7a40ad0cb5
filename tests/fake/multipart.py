"""multipart/form-data, parsed strictly: what the fake's OCR endpoint accepts and the 400s it gives otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION = re.compile(r'form-data\s*;\s*name="([^"]*)"(?:\s*;\s*filename="([^"]*)")?', re.IGNORECASE)


class FormError(Exception):
    """The body is not a form the endpoint reads; the message is the 400's."""


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_form(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body, in order."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise FormError(f"Content-Type must be multipart/form-data, got {content_type[:60] or 'none'}")
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise FormError("multipart/form-data without a boundary")
    delimiter = b"--" + found.group(1).encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise FormError("the multipart body is not terminated")
    return [_part(chunk) for chunk in chunks[1:-1]]


def _part(chunk: bytes) -> Part:
    if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
        raise FormError("a multipart part is malformed")
    head, sep, data = chunk[2:-2].partition(b"\r\n\r\n")
    if not sep:
        raise FormError("a multipart part has no headers")
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    disposition = _DISPOSITION.search(headers.get("content-disposition", ""))
    if disposition is None:
        raise FormError("a multipart part has no Content-Disposition name")
    return Part(disposition.group(1), disposition.group(2), headers.get("content-type"), data)
