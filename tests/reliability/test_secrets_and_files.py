"""Secrets and files: neither key ever appears in what the server writes, and OCR refuses files that are not images
or PDFs (a private key above all) before a single byte leaves the machine.

Every module of this suite runs its server with the recognisable keys of tests/conftest.py at DEBUG logging and
searches everything the server wrote after each test; this module adds the paths where an upstream itself hands a
key back, and the files a user must never be able to send by mistake.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ATLAS_KEY, DEEPSEEK_KEY
from tests.fake_upstream import FakeUpstream, Reply
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of

pytestmark = pytest.mark.reliability

MATERIAL = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUtTUFURVJJQUwtN2YzYTljMmU"  # recognisable, so a leak of it is found
PRIVATE_KEY = (
    f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MATERIAL}\n{MATERIAL[::-1]}\n-----END OPENSSH PRIVATE KEY-----\n"
).encode()


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


# (file name, content, what the refusal must call it)
KEY_FILES = [
    ("id_ed25519", PRIVATE_KEY, "a PEM key or certificate"),
    ("scan.png", PRIVATE_KEY, "a PEM key or certificate"),  # the name lies; the bytes decide
    ("invoice.pdf", b"%PDF-1.7 (not really)\n" + PRIVATE_KEY, "not a readable PDF"),  # passes the sniff, not pdfium
    (".env", f"DEEPSEEK_API_KEY=sk-{MATERIAL}\n".encode(), "its content looks like text"),
    ("keys.zip", _zip("id_ed25519", PRIVATE_KEY), "a ZIP archive"),
    ("backup.gz", gzip.compress(PRIVATE_KEY), "gzip-compressed data"),
    ("agent", b"\x7fELF\x02\x01\x01" + PRIVATE_KEY, "an ELF executable"),
]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream("deepseek", DEEPSEEK_KEY) as deepseek, FakeUpstream("atlas", ATLAS_KEY) as atlas:
        yield deepseek, atlas


@pytest.fixture(scope="module")
def server(upstreams: tuple[FakeUpstream, FakeUpstream], workdir: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(*upstreams, DEEPSEEK_MCP_MAX_RETRIES="0"), workdir) as live:
        yield live


@pytest.fixture(autouse=True)
def fresh(upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer) -> Iterator[None]:
    for fake in upstreams:
        fake.reset()
    yield
    server.assert_nothing_leaked()


def _nothing_sent(upstreams: tuple[FakeUpstream, FakeUpstream]) -> bool:
    return all(not fake.requests and fake.open_connections == 0 for fake in upstreams)


def _material_nowhere(server: StdioServer) -> bool:
    return MATERIAL not in server.stderr() and all(MATERIAL not in line for line in server.wire)


@pytest.mark.parametrize(("name", "content", "called"), KEY_FILES, ids=[name for name, _, _ in KEY_FILES])
def test_ocr_refuses_a_file_that_is_not_an_image_or_pdf_before_any_byte_leaves(
    name: str,
    content: bytes,
    called: str,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    server: StdioServer,
    workdir: Path,
) -> None:
    path = workdir / "secrets" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    result = server.call("ocr", {"source": str(path)})
    assert result.is_error and called in text_of(result), text_of(result)
    assert _nothing_sent(upstreams) and _material_nowhere(server)


def test_a_key_file_behind_an_image_name_a_symlink_base64_or_a_data_url_is_refused_the_same(
    upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer, workdir: Path
) -> None:
    key = workdir / "secrets" / "id_rsa"
    key.parent.mkdir(exist_ok=True)
    key.write_bytes(PRIVATE_KEY)
    link = workdir / "photo.jpg"
    link.unlink(missing_ok=True)
    os.symlink(key, link)
    encoded = base64.b64encode(PRIVATE_KEY).decode()
    sources = {
        "photo.jpg": "a PEM key or certificate",  # relative to the server's working directory, through a symlink
        encoded: "does not decode to an image or PDF (its content looks like a PEM key or certificate)",
        f"data:image/png;base64,{encoded}": "does not hold an image or PDF (its content looks like a PEM key",
        f"file://{key}": "file: sources are not supported",
    }
    for source, called in sources.items():
        result = server.call("ocr", {"source": source})
        assert result.is_error and called in text_of(result), text_of(result)
    assert _nothing_sent(upstreams) and _material_nowhere(server)


def test_a_special_file_is_refused_without_being_read(
    upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer, workdir: Path
) -> None:
    fifo = workdir / "secrets" / "pipe.png"
    fifo.parent.mkdir(exist_ok=True)
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)  # reading a FIFO nobody writes to would hang the call forever
    pipe = server.call("ocr", {"source": str(fifo)}, timeout=10.0)
    device = server.call("ocr", {"source": "/dev/zero"})
    assert pipe.is_error and "not a regular file" in text_of(pipe), text_of(pipe)
    # /dev is one of the policy's system places: refused by place before anything is opened.
    assert device.is_error and "is refused: it lies where" in text_of(device), text_of(device)
    assert _nothing_sent(upstreams)


@pytest.mark.parametrize("provider", ["deepseek", "atlas"])
def test_keys_an_upstream_hands_back_are_redacted_from_errors_and_logs(
    provider: str, upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer
) -> None:
    fake = upstreams[0] if provider == "deepseek" else upstreams[1]
    key = fake.api_key
    model = "deepseek-flash" if provider == "deepseek" else "deepseek-ai/deepseek-v4-flash"
    fake.script(
        Reply(status=400, error=f"invalid header: Authorization: Bearer {key}"),
        Reply(status=502, body=f"<html>upstream said {key}</html>".encode(), content_type="application/json"),
        Reply(content="one two three", stream_error_after_chunks=1, stream_error_message=f"bad key {key}"),
        Reply(status=401),
        Reply(malformed_lines=[f"data: {{{key}"], content=f"fine {key[:4]}"),
    )
    results = [server.call("chat", {"prompt": "hi", "model": model}) for _ in range(5)]
    texts = [text_of(r) for r in results]
    assert [r.is_error for r in results] == [True, True, True, True, False], texts
    assert all("[redacted]" in t for t in texts[:3]), texts
    assert (
        "HTTP 401" in texts[3] and ("DEEPSEEK_API_KEY" if provider == "deepseek" else "ATLASCLOUD_API_KEY") in texts[3]
    )
    assert server.assert_nothing_leaked() > 0


def test_balance_and_list_models_from_both_accounts_write_neither_key(
    upstreams: tuple[FakeUpstream, FakeUpstream], server: StdioServer
) -> None:
    deepseek, atlas = upstreams
    atlas.script(Reply(status=401, path="/public/v1/balance"))
    balance = server.call("balance", {})
    models = server.call("list_models", {})
    assert not balance.is_error and "110.00 CNY" in text_of(balance) and "ATLASCLOUD_API_KEY" in text_of(balance)
    assert not models.is_error and "deepseek-ai/deepseek-ocr" in text_of(models)
    sent = [r.headers.get("authorization", "") for r in deepseek.requests + atlas.requests]
    assert f"Bearer {DEEPSEEK_KEY}" in sent and f"Bearer {ATLAS_KEY}" in sent  # the keys did go where they belong
    assert server.assert_nothing_leaked() > 0


def test_the_leak_check_itself_finds_a_key_in_stderr_and_on_stdout(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.txt"
    stderr.write_text("all quiet\n")
    quiet = StdioServer(None, None, 0, stderr, ['{"result": "fine"}'])  # type: ignore[arg-type]
    assert quiet.assert_nothing_leaked() > 0
    for where in ("stderr", "stdout"):
        stderr.write_text(f"Authorization: Bearer {DEEPSEEK_KEY[:-1]}…\n" if where == "stderr" else "quiet\n")
        wire = [f'{{"error": "key {ATLAS_KEY}"}}'] if where == "stdout" else []
        with pytest.raises(AssertionError, match=f"leaked {'into stderr' if where == 'stderr' else 'onto stdout'}"):
            StdioServer(None, None, 0, stderr, wire).assert_nothing_leaked()  # type: ignore[arg-type]
