"""What is known about model ids: traits of the families this server treats specially, and each provider's live list.

Model ids stay data. Any id is accepted and passed through; the patterns below only say how to speak to a family
(DeepSeek-OCR's own prompts, which ids read images), and a provider's live `/models` list, when it has been read,
says which provider serves an id and what it accepts (`input_modalities`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

_OCR_FAMILY = re.compile(r"deepseek[-_ ]?ocr", re.IGNORECASE)  # deepseek-ai/deepseek-ocr, DeepSeek-OCR-2, ...
# DeepSeek's own ids that read text only (WIRE.md §0, §13): V4-Pro, on DeepSeek or namespaced on a gateway.
_TEXT_ONLY = re.compile(r"(^|/)deepseek-v4-pro(-\d+)?$", re.IGNORECASE)
_VISION = re.compile(r"(^|/)deepseek-(flash|v4-flash(-vision-exp)?)$", re.IGNORECASE)
LIST_TTL = 600.0  # seconds a provider's model list is trusted for routing
FAILED_TTL = 60.0  # seconds a provider whose list could not be read is not asked again for routing


@dataclass(frozen=True)
class Traits:
    """How to speak to one model id."""

    deepseek_ocr: bool = False  # DeepSeek-OCR: its own prompts, no thinking, 8K output, temperature 0
    vision: bool | None = None  # None: not known here; the provider decides


def traits_of(model: str, modalities: list[str] | None = None) -> Traits:
    """The traits of `model`; `modalities` from a live model list win over the id's shape."""
    ocr = bool(_OCR_FAMILY.search(model))
    if modalities is not None:
        return Traits(deepseek_ocr=ocr, vision="image" in modalities)
    if ocr or _VISION.search(model):
        return Traits(deepseek_ocr=ocr, vision=True)
    if _TEXT_ONLY.search(model):
        return Traits(vision=False)
    return Traits()


@dataclass(frozen=True)
class ModelRow:
    """One usable entry of a provider's `/models` answer."""

    id: str
    context_length: int | None = None
    max_output_tokens: int | None = None
    input_modalities: list[str] | None = None
    features: list[str] | None = None


def parse_rows(body: Any) -> list[ModelRow] | None:
    """DeepSeek's `{"object": "list", "data": [...]}` or Atlas's `{"code", "msg", "data": [...]}`; None if neither."""
    rows = body.get("data") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        return None
    return [_row(row) for row in rows if _usable(row)]


def _usable(row: Any) -> bool:
    # Atlas lists models that are not deployed yet with is_ready false; calls to them fail.
    return isinstance(row, dict) and isinstance(row.get("id"), str) and row.get("is_ready", True) is not False


def _row(row: dict[str, Any]) -> ModelRow:
    return ModelRow(
        id=row["id"][:300],
        context_length=_int(row.get("context_length") or row.get("max_model_len")),
        max_output_tokens=_int(row.get("max_output_length")),
        input_modalities=_strings(row.get("input_modalities")),
        features=_strings(row.get("supported_features")),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strings(value: Any) -> list[str] | None:
    return [str(v)[:100] for v in value[:50]] if isinstance(value, list) else None


Lister = Callable[[str], Awaitable[list[ModelRow]]]  # provider name -> its live rows (raises UpstreamError)


@dataclass
class Directory:
    """Each provider's last model list, kept for LIST_TTL seconds; `list_models` and routing both feed it."""

    clock: Callable[[], float] = time.monotonic
    _lists: dict[str, tuple[float, dict[str, ModelRow]]] = field(default_factory=dict)

    def learn(self, provider: str, rows: list[ModelRow]) -> None:
        self._lists[provider] = (self.clock(), {row.id: row for row in rows})

    def failed(self, provider: str) -> None:
        """The list could not be read: taken as empty for FAILED_TTL, so routing does not ask again each call."""
        self._lists[provider] = (self.clock() - (LIST_TTL - FAILED_TTL), {})

    def known(self, provider: str) -> dict[str, ModelRow] | None:
        """The provider's rows by id while fresh, else None."""
        entry = self._lists.get(provider)
        if entry is None or self.clock() - entry[0] > LIST_TTL:
            return None
        return entry[1]
