"""One memory budget for every image decode in the server (issue 17, item 6): concurrent calls of the largest image
this server decodes wait for the budget instead of adding up, none fails for waiting, and the peak stays that of
the budget, not of the number of calls."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp.types import CallToolResult

from tests.conftest import ATLAS_KEY
from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import server_env, stdio_server, text_of
from tests.reliability.test_bounds import _largest_accepted_image, _peak_kib

pytestmark = [pytest.mark.reliability]
CALLS = 4  # each 7071x7071 decode costs ~250 MiB: 4 at once peaked at about 1 GiB without the budget
PEAK_BUDGET_KIB = 500 * 1024


def test_concurrent_decodes_over_the_pixel_budget_wait_and_the_peak_stays_that_of_one(tmp_path: Path) -> None:
    _largest_accepted_image(tmp_path / "largest.png")
    env = {"DEEPSEEK_MCP_DECODE_PIXELS": "50000000"}  # one of these images at a time
    with FakeUpstream("atlas", ATLAS_KEY) as atlas, stdio_server(server_env(atlas=atlas, **env), tmp_path) as server:
        results: list[CallToolResult] = []

        async def burst() -> None:
            async def one() -> None:
                results.append(await server.acall("ocr", {"source": str(tmp_path / "largest.png")}, 240))

            async with anyio.create_task_group() as tg:
                for _ in range(CALLS):
                    tg.start_soon(one)

        server.run(burst)
        peak = _peak_kib(server.pid)
        sent = len(atlas.chat_requests())
    assert len(results) == CALLS and all(not r.is_error for r in results), [text_of(r) for r in results]
    assert sent == CALLS
    assert peak < PEAK_BUDGET_KIB, f"peak RSS {peak / 1024:.0f} MiB for {CALLS} concurrent decodes"
    print(f"peak RSS for {CALLS} concurrent 7071x7071 decodes in a 50 Mpx budget: {peak / 1024:.0f} MiB")
