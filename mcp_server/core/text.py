"""Checks on a tool's text arguments that a JSON schema cannot say, run by pydantic with the rest of validation (so
the caller hears them in the same voice, serving/arguments.py) and before anything is sent or billed."""

from __future__ import annotations

from pydantic import AfterValidator


def _not_blank(value: str) -> str:
    if value and not value.strip():
        raise ValueError("is only whitespace, so there is nothing to ask")
    return value


# Costs nothing in tools/list: a validator is not part of the schema.
NotBlank = AfterValidator(_not_blank)
