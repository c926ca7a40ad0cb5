"""Pieces of a key (issue 17, item 11; issue 24): an upstream that echoes 23 of the 35 characters of the server's
key, or 9 of them, or its last four as DeepSeek's 401 does, in every error path, gets none of it written: not in a
tool result, not in stderr at DEBUG, not on stdout.

The key has DeepSeek's own shape (`sk-` and 32 hex digits). Two rules meet here (docs/security.md, "Keys in
output"): the redactor replaces every run of 16 or more of the key's hex digits wherever it is, before any clipping,
so a key cut by the upstream, a byte cap or a clipped message is caught; and a provider's error text is masked by
shape, for no key (`****4b70`, and every run of 8 or more letters and digits that mixes both), so a shorter piece
is caught there too. Neither teaches a caller anything (tests/test_redaction_oracle.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_upstream import FakeUpstream, Reply
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of

pytestmark = pytest.mark.reliability

KEY = "sk-5e0b6d2f8a914c7e3b1d9f6a2c8e4b70"
PIECE = KEY[6:29]  # 23 of its 35 characters
SHORT = KEY[10:19]  # 9: shorter than a run the redactor replaces anywhere
ERROR_BODY_CAP = 64 * 1024  # what the server reads of an error body (upstream/client.py)


def _pieces_of_eight(key: str) -> set[str]:
    return {key[i : i + 8] for i in range(len(key) - 7)}


def _found(text: str) -> list[str]:
    """Every run of 8 characters of the key in `text`."""
    grams = _pieces_of_eight(KEY)
    return [text[i : i + 8] for i in range(len(text) - 7) if text[i : i + 8] in grams]


@pytest.fixture(scope="module")
def deepseek() -> Iterator[FakeUpstream]:
    with FakeUpstream("deepseek", KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(deepseek: FakeUpstream, workdir: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(deepseek, DEEPSEEK_MCP_MAX_RETRIES="1"), workdir) as live:
        yield live


def test_a_piece_of_the_key_echoed_in_any_error_path_is_written_nowhere(
    deepseek: FakeUpstream, server: StdioServer
) -> None:
    envelope = {"error": {"message": f"key {PIECE} was not accepted", "type": "authentication_error"}}
    cut_at_the_cap = ("x" * (ERROR_BODY_CAP - 23) + KEY).encode()  # the cap keeps the key's first 23 characters
    replies = {
        "in-stream error event": Reply(
            content="one two three",
            stream_error_after_chunks=1,
            stream_error_message=f"bad key {PIECE}",
            stream_error_code=401,
        ),
        "200 error envelope": Reply(body=json.dumps(envelope).encode(), content_type="application/json"),
        "400 body longer than the clip": Reply(status=400, error=f"header {PIECE} invalid; " + "detail " * 300),
        "400 body cut at the cap": Reply(status=400, body=cut_at_the_cap, content_type="text/plain"),
        "retried error message": Reply(status=503, error=f"upstream saw {PIECE}"),
        "400 quoting a short piece": Reply(status=400, error=f"header value {SHORT} invalid"),
        "401 quoting the key's end": Reply(
            status=401, error=f"Authentication Fails, Your api key: ****{KEY[-4:]} is invalid"
        ),
    }
    texts: dict[str, str] = {}
    for path, reply in replies.items():
        deepseek.reset()
        deepseek.script(reply, Reply(status=503, error=f"again {PIECE}"))  # the second answers a retry, if one comes
        result = server.call("chat", {"prompt": "hi", "model": "deepseek-flash"})
        texts[path] = text_of(result)
        assert result.is_error and "[redacted]" in texts[path], (path, texts[path])
    assert "retrying" in server.stderr()  # the retry notice was logged, and checked below
    for path, text in texts.items():
        assert not _found(text) and f"****{KEY[-4:]}" not in text, (path, text)
    assert not _found(server.stderr()), _found(server.stderr())[:5]
    assert not _found("\n".join(server.wire))
