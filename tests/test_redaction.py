"""The redactor (issue 17, item 11): every run of 8 or more characters of a configured key is replaced, in each
printed form of the key, in time linear in the text."""

from __future__ import annotations

import time

from mcp_server.policy.redaction import FRAGMENT, MARKER, Redactor, forms

KEY = "sk-5e0b6d2f8a914c7e3b1d9f6a2c8e4b70"
QUOTED = "tok'en\"with\\escapes-0123456789"


def _grams(*secrets: str) -> set[str]:
    return {form[i : i + FRAGMENT] for s in secrets for form in forms(s) for i in range(len(form) - FRAGMENT + 1)}


def _left(text: str, *secrets: str) -> list[str]:
    grams = _grams(*secrets)
    return [text[i : i + FRAGMENT] for i in range(len(text) - FRAGMENT + 1) if text[i : i + FRAGMENT] in grams]


def test_a_clipped_key_is_replaced_as_one_run_and_the_text_around_it_is_kept() -> None:
    redact = Redactor((KEY,))
    assert redact(f"bad key {KEY[6:29]}!") == f"bad key {MARKER}!"
    assert redact(f"Bearer {KEY}, then {KEY[:8]} and {KEY[-7:]}") == f"Bearer {MARKER}, then {MARKER} and {KEY[-7:]}"


def test_every_cut_and_join_of_two_pieces_of_a_key_leaves_no_eight_characters_of_it() -> None:
    redact = Redactor((KEY,))
    for start in range(0, len(KEY) - FRAGMENT):
        for end in range(start + FRAGMENT, len(KEY) + 1, 3):
            for other in range(0, len(KEY) - FRAGMENT, 4):
                text = f"<{KEY[start:end]}{KEY[other : other + 9]}>"
                out = redact(text)
                assert not _left(out, KEY) and out.startswith("<") and out.endswith(">"), (text, out)


def test_pieces_of_the_escaped_forms_of_a_key_are_replaced_too() -> None:
    redact = Redactor((QUOTED,))
    for form in forms(QUOTED):
        for cut in (form, form[3:], form[:-4], form[5:20]):
            assert not _left(redact(f"x {cut} y"), QUOTED), (cut, redact(cut))


def test_a_key_shorter_than_a_fragment_is_replaced_only_whole() -> None:
    assert Redactor(("sk-1",))("key sk-1 and sk-1 again, sk-") == f"key {MARKER} and {MARKER} again, sk-"
    assert not Redactor(())


def test_a_megabyte_of_pieces_of_the_key_is_redacted_in_linear_time() -> None:
    redact = Redactor((KEY, "apikey-test-ATLAS-0d9e8c7b6a5f4e3d"))
    garbage = "".join(f"{KEY[i % 27 : i % 27 + 9]}-" for i in range(100_000))  # 1 MB, every piece a match
    started = time.perf_counter()
    out = redact(garbage)
    assert time.perf_counter() - started < 3.0 and not _left(out, KEY)
    hexes = "0123456789abcdef" * 65_536  # 1 MiB of the key's alphabet that holds no piece of it
    started = time.perf_counter()
    assert redact(hexes) == hexes and time.perf_counter() - started < 1.0


def test_a_piece_of_a_key_that_the_server_prints_anyway_is_spared_but_the_key_around_it_is_not() -> None:
    redact = Redactor(("sk-test-DEEPSEEK-6f1c0e2b9a7d4c3e8b1a",))
    assert redact("set DEEPSEEK_API_KEY") == "set DEEPSEEK_API_KEY"
    assert redact("Bearer sk-test-DEEPSEEK-6f1c0e2b9a7d4c3e8b1a.") == f"Bearer {MARKER}."
