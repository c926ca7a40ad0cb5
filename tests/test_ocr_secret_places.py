"""`ocr` reads local files under the same policy as `files`: nothing in a secret place, nor a hard link into one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    Image.new("RGB", (64, 32), "white").save(folder / ".ssh" / "scan.png")
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.mark.parametrize("how", ["named", "hard link"])
async def test_an_image_in_a_secret_place_is_refused_by_ocr_and_nothing_is_sent(
    atlas: FakeUpstream, home: Path, tmp_path: Path, how: str
) -> None:
    source = home / ".ssh" / "scan.png"
    if how == "hard link":
        project = tmp_path / "project"
        project.mkdir()
        os.link(source, project / "scan.png")
        source = project / "scan.png"
    async with connect(make_settings(atlas=atlas)) as client:
        refused = await client.call_tool("ocr", {"source": str(source)})
        ordinary = tmp_path / "ordinary.png"
        Image.new("RGB", (64, 32), "white").save(ordinary)
        served = await client.call_tool("ocr", {"source": str(ordinary)})
    text = refused.content[0].text  # type: ignore[union-attr]
    assert refused.is_error and "is refused" in text and "keys" in text
    assert not served.is_error and len(atlas.chat_requests()) == 1  # only the ordinary image was sent
