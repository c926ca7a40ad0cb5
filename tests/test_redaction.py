"""The redactor (issues 17 and 24): every printed form of a configured key is replaced whole, and every run of a
key's body long enough to hold 64 bits; shorter pieces are left alone, so no echo of a guess can teach a piece of a
key (the attack itself is in test_redaction_oracle.py). Provider error text is also masked by shape alone."""

from __future__ import annotations

import time

from mcp_server.policy.redaction import MARKER, Redactor, forms, head_length, mask_reflections, window, windows

KEY = "sk-5e0b6d2f8a914c7e3b1d9f6a2c8e4b70"  # DeepSeek's shape: `sk-` and 32 hex digits
WINDOW = 16  # hex digits in 64 bits
QUOTED = "sk-" + "tok'en\"with\\escapes:0123456789zz"


def _left(text: str, *secrets: str) -> list[str]:
    """Every window of a key's body still in `text`."""
    grams = {gram for s in secrets for form in forms(s) for gram in windows(form)[1]}
    return [gram for gram in grams if gram in text]


def test_a_key_is_credited_with_its_bodys_alphabet_after_its_public_head() -> None:
    assert head_length(KEY) == 3 and window(KEY[3:]) == WINDOW
    assert head_length("sk-test-DEEPSEEK-6f1c0e2b9a7d4c3e8b1a") == len("sk-test-DEEPSEEK-")
    assert head_length("apikey-0d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b") == len("apikey-")
    assert head_length("Zq8sT2mV9xK4pL7wR1nB6cY3") == 0 and window("Zq8sT2mV9xK4pL7wR1nB6cY3") == 11
    assert window("0123456789") == 20 and window("tok'en") == 10


def test_a_clipped_key_is_replaced_as_one_run_and_the_text_around_it_is_kept() -> None:
    redact = Redactor((KEY,))
    assert redact(f"bad key {KEY[6:29]}!") == f"bad key {MARKER}!"
    assert redact(f"cut at the cap: {KEY[:23]}") == f"cut at the cap: sk-{MARKER}"
    assert redact(f"Bearer {KEY}, then {KEY[4 : 4 + WINDOW]}.") == f"Bearer {MARKER}, then {MARKER}."


def test_a_piece_shorter_than_a_window_is_left_as_it_is_so_that_its_echo_says_nothing() -> None:
    redact = Redactor((KEY,))
    for piece in (KEY[:8], KEY[: 3 + WINDOW - 1], KEY[10 : 10 + WINDOW - 1], KEY[-7:]):
        assert redact(f"<{piece}>") == f"<{piece}>"


def test_every_cut_and_join_of_two_pieces_of_a_key_leaves_no_window_of_it() -> None:
    redact = Redactor((KEY,))
    for start in range(0, len(KEY) - WINDOW):
        for end in range(start + 3 + WINDOW, len(KEY) + 1, 3):
            for other in range(3, len(KEY) - WINDOW, 4):
                text = f"<{KEY[start:end]}{KEY[other : other + WINDOW + 1]}>"
                out = redact(text)
                assert not _left(out, KEY) and out.startswith("<") and out.endswith(">"), (text, out)


def test_the_escaped_forms_of_a_key_and_their_long_pieces_are_replaced_too() -> None:
    redact = Redactor((QUOTED,))
    for form in forms(QUOTED):
        assert MARKER in redact(f"x {form} y") and form not in redact(f"x {form} y")
        for cut in (form[3:], form[:-4], form[5:25]):
            assert not _left(redact(f"x {cut} y"), QUOTED), (cut, redact(cut))


def test_a_key_whose_body_is_shorter_than_a_window_is_replaced_only_whole() -> None:
    assert Redactor(("sk-1",))("key sk-1 and sk-1 again, sk-") == f"key {MARKER} and {MARKER} again, sk-"
    short = "apikey-test-ATLAS-0d9e8c7b6a5f"
    assert Redactor((short,))(f"{short} {short[:-1]}") == f"{MARKER} {short[:-1]}"
    assert not Redactor(())


def test_a_megabyte_of_pieces_of_the_key_is_redacted_in_linear_time() -> None:
    redact = Redactor((KEY, "apikey-test-ATLAS-0d9e8c7b6a5f4e3d"))
    garbage = "".join(f"{KEY[3 + i % 17 : 3 + i % 17 + WINDOW]}-" for i in range(60_000))  # 1 MB, every piece a run
    started = time.perf_counter()
    out = redact(garbage)
    assert time.perf_counter() - started < 3.0 and not _left(out, KEY)
    hexes = "0123456789abcdef" * 65_536  # 1 MiB of the key's alphabet that holds no run of it
    started = time.perf_counter()
    assert redact(hexes) == hexes and time.perf_counter() - started < 1.0


def test_a_window_of_a_key_that_the_server_prints_anyway_is_spared_but_the_key_around_it_is_not() -> None:
    key = "sk-test-DEEPSEEK_API_KEYZ0123456789abcdef"
    redact = Redactor((key,))
    assert redact("set DEEPSEEK_API_KEY") == "set DEEPSEEK_API_KEY"
    assert redact(f"Bearer {key}.") == f"Bearer {MARKER}."


def test_provider_error_text_is_masked_by_shape_whatever_the_key() -> None:
    said = "Authentication Fails, Your api key: ****cd15 is invalid; saw sk-5e0b6d2f8 and ...4b70"
    assert (
        mask_reflections(said)
        == f"Authentication Fails, Your api key: {MARKER} is invalid; saw sk-{MARKER} and {MARKER}"
    )
    ordinary = (
        "Invalid max_tokens value, the valid range of max_tokens is [1, 393216]; model deepseek-ai/deepseek-v4-pro-0813"
        " at 2026-09-29, concurrency 26 of 25, fp8_kvcache_20260402, Insufficient Balance"
    )
    assert mask_reflections(ordinary) == ordinary


def test_texts_searched_at_once_are_untouched_exactly_when_each_one_is() -> None:
    redact = Redactor((KEY, QUOTED))
    body = KEY[3:]
    cases = [
        ["an answer", "deepseek-flash", "stop"],
        ["an answer", f"the log cut it: {body[:20]}", "stop"],  # a run of the body in one text
        ["quoted " + repr(QUOTED), "x"],  # an escaped form
        [body[:8], body[8:16]],  # half a window each side of the join: no text holds one, so none is redacted
        [KEY, ""],
        [],
    ]
    for texts in cases:
        assert redact.untouched(texts) == all(redact(text) is text for text in texts), texts
    # A secret holding the joiner cannot be searched joined: every text is redacted one by one instead.
    assert not Redactor(("sk-with\x00nul-0123456789abcdef",)).untouched(["plain"])
    assert Redactor(()).untouched([KEY])  # no secret configured: nothing is redacted
