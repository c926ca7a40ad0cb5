"""The fake upstream speaks the wire of WIRE.md, and its scripted faults happen at the byte level tests rely on."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx2
import pytest
from PIL import Image

from tests.fake_upstream import OCR_MODEL, FakeUpstream, Reply

FAKE_SCRIPT = Path(__file__).with_name("fake_upstream.py")
GROUNDING = "<image>\n<|grounding|>Convert the document to markdown."


@pytest.fixture
def deepseek() -> Iterator[FakeUpstream]:
    with FakeUpstream("deepseek") as fake:
        yield fake


@pytest.fixture
def atlas() -> Iterator[FakeUpstream]:
    with FakeUpstream("atlas", "apikey-fake-atlas-4242") as fake:
        yield fake


@pytest.fixture
def ds(deepseek: FakeUpstream) -> Iterator[httpx2.Client]:
    with _client(deepseek) as client:
        yield client


@pytest.fixture
def at(atlas: FakeUpstream) -> Iterator[httpx2.Client]:
    with _client(atlas) as client:
        yield client


def _client(fake: FakeUpstream, key: str | None = None) -> httpx2.Client:
    headers = {"Authorization": f"Bearer {key or fake.api_key}"}
    return httpx2.Client(base_url=fake.base_url, headers=headers, timeout=5)


def _chat(text: str = "hi there", model: str = "deepseek-flash", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def _data_events(text: str) -> list[Any]:
    """The `data:` payloads of an SSE body, parsed; `[DONE]` stays a string."""
    events: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def _stream_lines(client: httpx2.Client, body: dict[str, Any], into: list[str]) -> None:
    with client.stream("POST", "/chat/completions", json=body) as response:
        into.extend(line for line in response.iter_lines() if line.startswith("data: "))


def _png(width: int, height: int, color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_part(data: bytes) -> dict[str, Any]:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def _ident(data: bytes, width: int, height: int) -> str:
    return f"image {width}x{height} sha={hashlib.sha256(data).hexdigest()[:12]}"


def _ocr(at: httpx2.Client, image: bytes, prompt: str) -> str:
    messages = [{"role": "user", "content": [_image_part(image), {"type": "text", "text": prompt}]}]
    response = at.post("/chat/completions", json={"model": OCR_MODEL, "messages": messages})
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert "reasoning_content" not in message  # the OCR model never thinks
    return str(message["content"])


def _error(response: httpx2.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


# --- auth ---------------------------------------------------------------------------------------------------------


def test_a_wrong_deepseek_key_gets_the_authentication_envelope_echoing_only_its_last_four_characters(
    deepseek: FakeUpstream,
) -> None:
    with _client(deepseek, "sk-wrong-key-9z9z") as client:
        response = client.post("/chat/completions", json=_chat())
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "message": "Authentication Fails, Your api key: ****9z9z is invalid",
            "type": "authentication_error",
            "param": None,
            "code": "invalid_request_error",
        }
    }
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-ds-trace-id"])
    assert deepseek.requests[0].status == 401


def test_a_wrong_atlas_key_gets_the_code_msg_envelope_carrying_the_request_id(atlas: FakeUpstream) -> None:
    with _client(atlas, "apikey-wrong") as client:
        response = client.post("/chat/completions", json=_chat(model="deepseek-ai/deepseek-v4-flash"))
    assert response.status_code == 401
    request_id = response.headers["X-Request-ID"]
    assert response.json() == {"code": 401, "msg": "unauthorized", "request_id": request_id, "data": None}


# --- streaming shapes ---------------------------------------------------------------------------------------------


def test_a_thinking_stream_sends_role_then_reasoning_then_content_then_usage_on_the_final_chunk_then_done(
    ds: httpx2.Client,
) -> None:
    body = _chat("hi there 你好", stream=True, stream_options={"include_usage": True})
    response = ds.post("/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = _data_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len({(c["id"], c["created"]) for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": None, "reasoning_content": ""}
    reasoning = [d for d in deltas[1:-1] if d["content"] is None]
    content = [d for d in deltas[1:-1] if d["content"] is not None]
    assert deltas[1 : 1 + len(reasoning)] == reasoning  # every reasoning delta comes before any content delta
    assert all(set(d) == {"content", "reasoning_content"} for d in deltas[1:-1])
    assert "".join(d["reasoning_content"] for d in reasoning) == "Thinking about: hi there 你好"
    assert all(d["reasoning_content"] is None for d in content)
    assert "".join(d["content"] for d in content) == "You said: hi there 你好 (turn 1)"
    assert deltas[-1] == {"content": "", "reasoning_content": None}
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert all(c["usage"] is None for c in chunks[:-1])
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == len(reasoning) + len(content)
    assert usage["completion_tokens_details"] == {"reasoning_tokens": len(reasoning)}
    assert usage["prompt_tokens"] == 4  # hi, there, 你, 好
    assert usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"] == usage["prompt_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": usage["prompt_cache_hit_tokens"]} == {"cached_tokens": 0}
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_without_include_usage_only_the_final_chunk_has_a_usage_key(ds: httpx2.Client) -> None:
    chunks = _data_events(ds.post("/chat/completions", json=_chat(stream=True)).text)[:-1]
    assert all("usage" not in c for c in chunks[:-1])
    assert chunks[-1]["usage"]["prompt_tokens"] == 2


@pytest.mark.parametrize("switch", [{"thinking": {"type": "disabled"}}, {"reasoning_effort": "none"}])
def test_switching_thinking_off_leaves_reasoning_out_of_streams_and_bodies(
    ds: httpx2.Client, switch: dict[str, Any]
) -> None:
    chunks = _data_events(ds.post("/chat/completions", json=_chat(stream=True, **switch)).text)[:-1]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all("reasoning_content" not in d for d in deltas)
    assert deltas[-1] == {"content": "", "role": None}
    assert "completion_tokens_details" not in chunks[-1]["usage"]
    body = ds.post("/chat/completions", json=_chat(**switch)).json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "You said: hi there (turn 1)"}


def test_atlas_models_think_by_default_and_stop_when_enable_thinking_is_false(at: httpx2.Client) -> None:
    thinking = at.post("/chat/completions", json=_chat(model="deepseek-ai/deepseek-v4-flash")).json()
    assert thinking["model"] == "deepseek-ai/deepseek-v4-flash"
    assert thinking["choices"][0]["message"]["reasoning_content"] == "Thinking about: hi there"
    plain = at.post("/chat/completions", json=_chat(model="deepseek-ai/deepseek-v4-flash", enable_thinking=False))
    assert "reasoning_content" not in plain.json()["choices"][0]["message"]


def test_keepalive_comments_and_malformed_lines_arrive_before_the_first_data_chunk(
    deepseek: FakeUpstream, ds: httpx2.Client
) -> None:
    deepseek.script(Reply(keepalives=2, keepalive_interval=0.02, malformed_lines=["data: {not json", "event: weird"]))
    text = ds.post("/chat/completions", json=_chat(stream=True)).text
    prefix = ": keep-alive\n\n: keep-alive\n\ndata: {not json\n\nevent: weird\n\n"
    assert text.startswith(prefix + 'data: {"id"')
    assert text.endswith("data: [DONE]\n\n")


def test_usage_style_separate_adds_an_openai_style_chunk_with_no_choices(
    deepseek: FakeUpstream, ds: httpx2.Client
) -> None:
    deepseek.script(Reply(usage_style="separate"))
    chunks = _data_events(ds.post("/chat/completions", json=_chat(stream=True)).text)[:-1]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in chunks[-2]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("reasoning_field", "message"),
    [
        ("reasoning", {"role": "assistant", "content": "You said: hi (turn 1)", "reasoning": "Thinking about: hi"}),
        (
            "think_tags",
            {"role": "assistant", "content": "<think>\nThinking about: hi\n</think>\n\nYou said: hi (turn 1)"},
        ),
    ],
)
def test_reasoning_can_arrive_as_a_reasoning_field_or_inline_think_tags(
    deepseek: FakeUpstream, ds: httpx2.Client, reasoning_field: str, message: dict[str, str]
) -> None:
    deepseek.script(Reply(reasoning_field=reasoning_field))
    assert ds.post("/chat/completions", json=_chat("hi")).json()["choices"][0]["message"] == message


# --- faults -------------------------------------------------------------------------------------------------------


def test_drop_after_chunks_cuts_the_stream_without_done(deepseek: FakeUpstream, ds: httpx2.Client) -> None:
    deepseek.script(Reply(drop_after_chunks=3))
    received: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        _stream_lines(ds, _chat(stream=True), received)
    assert len(received) == 3
    assert "[DONE]" not in received[-1]


def test_drop_before_headers_surfaces_as_a_connection_error_and_the_next_request_works(
    deepseek: FakeUpstream, ds: httpx2.Client
) -> None:
    deepseek.script(Reply(drop_before_headers=True))
    with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
        ds.post("/chat/completions", json=_chat())
    assert ds.get("/models").status_code == 200
    assert deepseek.requests[0].status is None
    assert not deepseek.requests[0].client_disconnected


def test_a_client_that_closes_mid_stream_is_recorded_as_disconnected_within_a_second(
    deepseek: FakeUpstream, ds: httpx2.Client
) -> None:
    # A token delay far longer than the allowed second: only the reader watch, not a failed write, can notice.
    deepseek.script(Reply(content="one two three four five six", token_delay=5))
    with ds.stream("POST", "/chat/completions", json=_chat(stream=True)) as response:
        first = next(line for line in response.iter_lines() if line.startswith("data: "))
    closed_at = time.monotonic()
    assert '"role":"assistant"' in first
    assert deepseek.wait_for(lambda fake: fake.requests[0].client_disconnected, timeout=2)
    disconnected_at = deepseek.requests[0].disconnected_at
    assert disconnected_at is not None
    assert disconnected_at - closed_at < 1
    assert deepseek.wait_for(lambda fake: fake.open_connections == 0, timeout=2)


def test_a_client_that_leaves_during_a_stall_is_noticed_and_its_connection_closed(deepseek: FakeUpstream) -> None:
    deepseek.script(Reply(stall_before_headers=10))
    with socket.create_connection((deepseek.host, deepseek.port), timeout=5) as sock:
        sock.sendall(f"GET /models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {deepseek.api_key}\r\n\r\n".encode())
        assert deepseek.wait_for(lambda fake: len(fake.requests) == 1, timeout=2)
    closed_at = time.monotonic()
    assert deepseek.wait_for(lambda fake: fake.requests[0].client_disconnected, timeout=2)
    assert (deepseek.requests[0].disconnected_at or 0) - closed_at < 1
    assert deepseek.requests[0].status is None
    assert deepseek.wait_for(lambda fake: fake.open_connections == 0, timeout=2)


def test_stop_returns_promptly_with_a_stalled_client_still_connected() -> None:
    fake = FakeUpstream().start()
    fake.script(Reply(stall_before_headers=30))
    with socket.create_connection((fake.host, fake.port), timeout=5) as sock:
        sock.sendall(b"GET /models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert fake.wait_for(lambda f: len(f.requests) == 1, timeout=2)
        began = time.monotonic()
        fake.stop()
        assert time.monotonic() - began < 3
        assert sock.recv(1024) == b""  # the fake closed its end without answering


def test_stall_after_chunks_goes_silent_then_finishes_normally(deepseek: FakeUpstream, ds: httpx2.Client) -> None:
    deepseek.script(Reply(stall_after_chunks=1, stall_seconds=0.3))
    arrivals: list[tuple[float, str]] = []
    with ds.stream("POST", "/chat/completions", json=_chat(stream=True)) as response:
        arrivals.extend((time.monotonic(), line) for line in response.iter_lines() if line.startswith("data: "))
    assert arrivals[1][0] - arrivals[0][0] >= 0.25
    assert arrivals[-1][1] == "data: [DONE]"


@pytest.mark.parametrize("flavor", ["deepseek", "atlas"])
def test_stream_errors_arrive_inside_the_open_stream_in_each_flavours_shape(
    flavor: Literal["deepseek", "atlas"],
) -> None:
    model = "deepseek-flash" if flavor == "deepseek" else "deepseek-ai/deepseek-v4-flash"
    with FakeUpstream(flavor) as fake, _client(fake) as client:
        fake.script(Reply(stream_error_after_chunks=2, stream_error_message="boom"))
        response = client.post("/chat/completions", json=_chat(model=model, stream=True))
    assert response.status_code == 200
    events = _data_events(response.text)
    assert len(events) == 3
    if flavor == "deepseek":
        error = {"message": "boom", "type": "server_error", "param": None, "code": "invalid_request_error"}
        assert events[2] == {"error": error}
    else:
        assert events[2] == {"code": 500, "msg": "boom", "request_id": response.headers["X-Request-ID"]}


def test_scripted_statuses_use_each_flavours_envelope_and_carry_extra_headers(
    deepseek: FakeUpstream, ds: httpx2.Client, atlas: FakeUpstream, at: httpx2.Client
) -> None:
    deepseek.script(Reply(status=429, headers={"Retry-After": "1"}), Reply(status=402), Reply(status=500, error="boom"))
    limited = ds.post("/chat/completions", json=_chat())
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert _error(limited)["type"] == "rate_limit_error"
    assert _error(limited)["message"].startswith("Too many requests.")
    assert _error(ds.get("/user/balance")) == {
        "message": "Insufficient Balance",
        "type": "unknown_error",
        "param": None,
        "code": "invalid_request_error",
    }
    assert _error(ds.get("/models"))["type"] == "server_error"
    atlas.script(Reply(status=503))
    busy = at.post("/chat/completions", json=_chat(model="deepseek-ai/deepseek-v4-flash"))
    assert busy.status_code == 503
    assert busy.json() == {
        "code": 503,
        "msg": "service unavailable",
        "request_id": busy.headers["X-Request-ID"],
        "data": None,
    }


def test_a_raw_body_override_is_sent_as_is_with_its_content_type(deepseek: FakeUpstream, ds: httpx2.Client) -> None:
    deepseek.script(Reply(status=400, body=b"upstream exploded", content_type="application/octet-stream"))
    response = ds.post("/chat/completions", json=_chat())
    assert (response.status_code, response.content) == (400, b"upstream exploded")
    assert response.headers["content-type"] == "application/octet-stream"


def test_leading_newlines_precede_the_json_body_and_count_in_its_length(
    deepseek: FakeUpstream, ds: httpx2.Client
) -> None:
    deepseek.script(Reply(leading_newlines=3))
    response = ds.post("/chat/completions", json=_chat())
    assert response.content.startswith(b'\n\n\n{"id"')
    assert int(response.headers["content-length"]) == len(response.content)
    assert json.loads(response.content)["object"] == "chat.completion"


def test_a_scripted_reply_with_a_path_waits_for_a_request_to_that_path(
    deepseek: FakeUpstream, ds: httpx2.Client
) -> None:
    deepseek.script(Reply(status=503, path="/models"))
    assert ds.post("/chat/completions", json=_chat()).status_code == 200
    assert ds.get("/v1/models").status_code == 503
    assert ds.get("/models").status_code == 200


def test_an_unknown_reply_style_is_refused_when_scripted() -> None:
    with pytest.raises(ValueError, match="usage_style"):
        Reply(usage_style="sometimes")


# --- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _chat(model="deepseek-v9"),
            "The supported API model names are deepseek-flash, deepseek-v4-pro, but you passed",
        ),
        (
            _chat(model="deepseek-chat"),
            "The supported API model names are deepseek-v4-pro or deepseek-v4-flash, but you passed deepseek-chat.",
        ),
        (_chat(max_tokens=0), "Invalid max_tokens value, the valid range of max_tokens is [1, 393216]"),
        (_chat(max_tokens=393217), "Invalid max_tokens value, the valid range of max_tokens is [1, 393216]"),
        (_chat(stream_options={"include_usage": True}), "only allowed when `stream` is true"),
        (_chat(tools=[{"type": "function"}], tool_choice="required"), "not supported in thinking mode"),
        ({"model": "deepseek-flash", "messages": []}, "Empty input messages"),
        ({"model": "deepseek-flash"}, "missing field `messages`"),
        (
            {
                "model": "deepseek-flash",
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"},
                ],
            },
            "The `reasoning_content` in the thinking mode must be passed back to the API.",
        ),
    ],
)
def test_invalid_chat_requests_get_a_400_in_the_deepseek_envelope(
    ds: httpx2.Client, body: dict[str, Any], message: str
) -> None:
    response = ds.post("/chat/completions", json=body)
    assert response.status_code == 400
    error = _error(response)
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_a_deserialize_error(ds: httpx2.Client) -> None:
    response = ds.post("/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _error(response)["message"].startswith("Failed to deserialize the JSON body into the target type: ")


def test_the_largest_max_tokens_and_the_flash_alias_are_accepted(ds: httpx2.Client) -> None:
    response = ds.post("/v1/chat/completions", json=_chat(model="deepseek-v4-flash", max_tokens=393216))
    assert response.status_code == 200
    assert response.json()["model"] == "deepseek-v4-flash"


def test_images_are_refused_outside_user_messages_and_by_the_model_without_vision(ds: httpx2.Client) -> None:
    image = _image_part(_png(8, 8, "red"))
    system = {"role": "system", "content": [image]}
    in_system = ds.post("/chat/completions", json={"model": "deepseek-flash", "messages": [system]})
    assert in_system.status_code == 400
    assert "only supported in user and tool messages" in _error(in_system)["message"]
    pro = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": [image]}]}
    no_vision = ds.post("/chat/completions", json=pro)
    assert no_vision.status_code == 400
    assert "deepseek-v4-pro does not support image input" in _error(no_vision)["message"]


def test_an_unknown_atlas_model_is_a_404_in_the_code_msg_envelope(at: httpx2.Client) -> None:
    response = at.post("/chat/completions", json=_chat(model="deepseek-ai/deepseek-v9"))
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert response.json()["msg"] == "model not found"


# --- answers ------------------------------------------------------------------------------------------------------


def test_default_answers_count_user_turns_and_hit_the_cache_only_on_a_prefix_stored_before(
    ds: httpx2.Client,
) -> None:
    system = {"role": "system", "content": " ".join(["word"] * 70)}

    def usage_of(*messages: dict[str, Any]) -> tuple[int, int, str]:
        body = ds.post("/chat/completions", json={"model": "deepseek-flash", "messages": list(messages)}).json()
        usage = body["usage"]
        assert usage["prompt_tokens_details"] == {"cached_tokens": usage["prompt_cache_hit_tokens"]}
        assert usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"] == usage["prompt_tokens"]
        return usage["prompt_tokens"], usage["prompt_cache_hit_tokens"], body["choices"][0]["message"]["content"]

    # A history never sent before hits nothing, however long: the cache holds only what earlier requests stored.
    assert usage_of(
        system,
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "y"},
        *[{"role": "user", "content": "z"}],
    )[:2] == (73, 0)
    first = {"role": "user", "content": "first"}
    assert usage_of(system, first) == (71, 64, "You said: first (turn 1)")  # the 64-token unit of the request above
    # A follow-up that sends the answer back repeats the unit stored at the end of the output, 71 + 5 words.
    answer = {"role": "assistant", "content": "You said: first (turn 1)"}
    second = {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "part"}]}
    assert usage_of(system, first, answer, second) == (78, 76, "You said: second part (turn 2)")
    # The same words under another role are another prefix.
    assert usage_of({"role": "user", "content": system["content"]})[:2] == (70, 0)


def test_json_object_mode_answers_with_a_json_object(ds: httpx2.Client) -> None:
    body = _chat("give me json", response_format={"type": "json_object"}, thinking={"type": "disabled"})
    content = ds.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"answer": "You said: give me json (turn 1)"}


def test_fim_fills_the_middle_in_and_out_of_a_stream(ds: httpx2.Client) -> None:
    body = {"model": "deepseek-flash", "prompt": "def fib(a):", "suffix": "    return fib(a-1)", "max_tokens": 128}
    whole = ds.post("/beta/completions", json=body).json()
    assert whole["object"] == "text_completion"
    assert whole["choices"][0]["text"] == "<fim:ef fib(a):|    return>"
    assert whole["usage"]["prompt_cache_miss_tokens"] == whole["usage"]["prompt_tokens"]
    events = _data_events(ds.post("/beta/completions", json={**body, "stream": True}).text)
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == whole["choices"][0]["text"]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    too_long = ds.post("/beta/completions", json={**body, "max_tokens": 4097})
    assert too_long.status_code == 400
    assert _error(too_long)["message"] == "Invalid max_tokens value, the valid range of max_tokens is [1, 4096]"


def test_models_and_balance_have_the_documented_shapes(ds: httpx2.Client) -> None:
    models = ds.get("/models").json()
    assert models == {
        "object": "list",
        "data": [
            {"id": "deepseek-flash", "object": "model", "owned_by": "deepseek"},
            {"id": "deepseek-v4-pro", "object": "model", "owned_by": "deepseek"},
        ],
    }
    balance = ds.get("/user/balance").json()
    assert balance["is_available"] is True
    assert [(b["currency"], b["total_balance"]) for b in balance["balance_infos"]] == [
        ("CNY", "110.00"),
        ("USD", "0.50"),
    ]


def test_atlas_lists_models_without_a_key_including_one_that_is_not_ready(atlas: FakeUpstream) -> None:
    with httpx2.Client(base_url=atlas.base_url, timeout=5) as anonymous:
        listing = anonymous.get("/models").json()
    assert (listing["code"], listing["msg"]) == (200, "success")
    by_id = {entry["id"]: entry for entry in listing["data"]}
    assert set(by_id) >= {"deepseek-ai/deepseek-v4-flash", OCR_MODEL}
    assert by_id["deepseek-ai/deepseek-r1-legacy"]["is_ready"] is False
    assert by_id[OCR_MODEL]["input_modalities"] == ["text", "image"]


def test_atlas_balance_lives_on_the_origin_and_its_errors_use_the_openai_style_envelope(
    atlas: FakeUpstream, at: httpx2.Client
) -> None:
    balance = at.get(f"{atlas.origin}/public/v1/balance").json()
    assert balance["available"] == {"value": "125.500000", "currency": "usd"}
    with httpx2.Client(timeout=5) as anonymous:
        refused = anonymous.get(f"{atlas.origin}/public/v1/balance")
    assert refused.status_code == 401
    assert set(refused.json()) == {"error", "request_id"}
    assert set(refused.json()["error"]) == {"type", "code", "message", "param"}


def test_ocr_grounding_stripped_and_free_ocr_all_identify_the_page(atlas: FakeUpstream, at: httpx2.Client) -> None:
    page = _png(64, 48, "white")
    ident = _ident(page, 64, 48)
    grounded = _ocr(at, page, GROUNDING)
    assert grounded.startswith(f"<|ref|>title<|/ref|><|det|>[[115, 165, 465, 201]]<|/det|>\n# Page of {ident}\n\n")
    assert "<|ref|>text<|/ref|><|det|>[[575, 179, 880, 216]]<|/det|>" in grounded
    atlas.script(Reply(strip_special_tokens=True))
    stripped = _ocr(at, page, GROUNDING)
    assert stripped.startswith(f"title[[115, 165, 465, 201]]\n# Page of {ident}")
    assert stripped == re.sub(r"<\|/?(ref|det)\|>", "", grounded)
    free = _ocr(at, page, "<image>\nFree OCR.")
    assert ident in free
    assert "<|" not in free
    assert "[[" not in free


def test_ocr_prompts_for_locate_figure_and_description_give_their_own_outputs(at: httpx2.Client) -> None:
    page = _png(10, 20, "black")
    located = _ocr(at, page, "<image>\nLocate <|ref|>the logo<|/ref|> in the image.")
    assert located == "<|ref|>the logo<|/ref|><|det|>[[100, 200, 300, 400]]<|/det|>"
    assert "bar chart" in _ocr(at, page, "Parse the figure.")
    assert _ident(page, 10, 20) in _ocr(at, page, "Describe this image in detail.")


def test_the_ocr_model_refuses_a_request_without_an_image(at: httpx2.Client) -> None:
    response = at.post("/chat/completions", json=_chat("Free OCR.", model=OCR_MODEL))
    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_deepseek_vision_names_each_image_in_order(ds: httpx2.Client) -> None:
    first, second = _png(30, 20, "red"), _png(40, 10, "blue")
    parts = [_image_part(first), _image_part(second), {"type": "text", "text": "read these"}]
    body = {
        "model": "deepseek-flash",
        "messages": [{"role": "user", "content": parts}],
        "thinking": {"type": "disabled"},
    }
    content = ds.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    expected = f"You said: read these (turn 1)\n[{_ident(first, 30, 20)}]\n[{_ident(second, 40, 10)}]"
    assert content == expected


# --- connections, control routes, standalone mode -----------------------------------------------------------------


def test_one_connection_carries_several_requests(deepseek: FakeUpstream, ds: httpx2.Client) -> None:
    for _ in range(3):
        assert ds.get("/models").status_code == 200
    assert len({rec.connection for rec in deepseek.requests}) == 1
    assert deepseek.open_connections == 1


def test_control_routes_script_list_and_reset_over_http(deepseek: FakeUpstream, ds: httpx2.Client) -> None:
    with httpx2.Client(base_url=deepseek.origin, timeout=5) as control:
        scripted = control.post("/_fake/script", json=[{"status": 429}, {"content": "scripted", "body": None}])
        assert scripted.json() == {"scripted": 2}
        assert control.post("/_fake/script", json=[{"colour": "red"}]).status_code == 400
        assert ds.post("/chat/completions", json=_chat()).status_code == 429
        answer = ds.post("/chat/completions", json=_chat()).json()
        assert answer["choices"][0]["message"]["content"] == "scripted"
        listed = control.get("/_fake/requests").json()
        assert [(r["path"], r["status"], r["json"]["model"]) for r in listed] == [
            ("/chat/completions", 429, "deepseek-flash"),
            ("/chat/completions", 200, "deepseek-flash"),
        ]
        assert control.post("/_fake/reset").json() == {"ok": True}
        assert control.get("/_fake/requests").json() == []
    assert deepseek.requests == []


def test_standalone_mode_prints_one_json_line_then_serves_until_terminated() -> None:
    command = [sys.executable, str(FAKE_SCRIPT), "--flavor", "deepseek", "--api-key", "sk-standalone-1234"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603 - our own script
        assert process.stdout is not None
        try:
            readable, _, _ = select.select([process.stdout], [], [], 10)
            assert readable, "the fake printed nothing within 10 s"
            info = json.loads(process.stdout.readline())
            assert info["base_url"] == info["origin"] == f"http://127.0.0.1:{info['port']}"
            with httpx2.Client(headers={"Authorization": "Bearer sk-standalone-1234"}, timeout=5) as client:
                assert client.get(f"{info['base_url']}/models").status_code == 200
        finally:
            process.terminate()
        assert process.wait(timeout=5) == 0
        assert process.stdout.read() == ""
