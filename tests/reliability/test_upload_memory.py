"""DeepSeek's OCR API takes files up to 100 MiB: the server streams them from disk, so its memory does not grow
with the file. Measured on the installed server's own peak resident size (VmHWM), which no later call can hide."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DEEPSEEK_KEY
from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of
from tests.samples import png

pytestmark = pytest.mark.reliability

MIB = 2**20
PEAK_GROWTH_MIB = 24  # far under the file: two copies of it would be 180 MiB


@pytest.fixture(scope="module")
def deepseek() -> Iterator[FakeUpstream]:
    with FakeUpstream("deepseek", DEEPSEEK_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(deepseek: FakeUpstream, workdir: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(deepseek), workdir) as live:
        yield live


def _peak_mib(server: StdioServer) -> float:
    for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM line")


def test_a_90_mib_file_goes_up_without_the_servers_memory_growing_with_it(
    deepseek: FakeUpstream, server: StdioServer, workdir: Path
) -> None:
    small, big = workdir / "small.png", workdir / "big.png"
    small.write_bytes(png((400, 300)))
    with big.open("wb") as file:
        file.write(png((400, 300)))
        file.truncate(90 * MIB)  # PNG readers stop at IEND; the rest is padding the API still receives
    warm = server.call("ocr", {"source": str(small)})
    assert not warm.is_error, text_of(warm)
    before = _peak_mib(server)
    sent = server.call("ocr", {"source": str(big)})
    assert not sent.is_error, text_of(sent)
    assert len(deepseek.tool_requests("ocr")[-1].body) > 90 * MIB  # all of it arrived
    assert _peak_mib(server) - before < PEAK_GROWTH_MIB, (before, _peak_mib(server))
    server.assert_nothing_leaked()
