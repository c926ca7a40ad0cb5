"""A secret's spellings in the encodings a file may hold it in: base64 at each alignment, and hex."""

from __future__ import annotations

import base64


def encoded_forms(secret: bytes) -> set[bytes]:
    """`secret` in base64 (standard and URL-safe) at each of the three alignments it may sit at, and in hex.

    A value inside a longer base64 text starts at byte 0, 1 or 2 of a 3-byte group; for each, the characters
    that encode only the value's bits are the same whatever surrounds it.
    """
    found = {secret.hex().encode(), secret.hex().upper().encode()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret)
        inner = encoded[(shift * 8 + 5) // 6 : ((shift + len(secret)) * 8) // 6]
        if len(inner) >= 8:
            found |= {inner, inner.translate(bytes.maketrans(b"+/", b"-_"))}
    return found
