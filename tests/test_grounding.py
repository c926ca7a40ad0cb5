"""DeepSeek-OCR output parsing: markup out, boxes in page pixels."""

from __future__ import annotations

from mcp_server.media.grounding import Box, parse

TAGGED = """<|ref|>title<|/ref|><|det|>[[115, 165, 465, 201]]<|/det|>
# Übungsblatt Sto 8

<|ref|>text<|/ref|><|det|>[[575, 179, 880, 216]]<|/det|>
Computational and Data Science

<|ref|>table<|/ref|><|det|>[[100, 300, 900, 500]]<|/det|>
<table><tr><td>a</td><td>b</td></tr></table>

<|ref|>image<|/ref|><|det|>[[515, 626, 920, 816]]<|/det|>
"""

STRIPPED = """title[[115, 165, 465, 201]]
# Übungsblatt Sto 8

text[[575, 179, 880, 216]]
Computational and Data Science

table[[100, 300, 900, 500]]
<table><tr><td>a</td><td>b</td></tr></table>

image[[515, 626, 920, 816]]
"""

EXPECTED_MARKDOWN = (
    "# Übungsblatt Sto 8\n\nComputational and Data Science\n\n<table><tr><td>a</td><td>b</td></tr></table>"
)


def test_tagged_output_becomes_markdown_and_pixel_boxes() -> None:
    parsed = parse(TAGGED, 999, 1998)

    assert parsed.markdown == EXPECTED_MARKDOWN
    assert not parsed.normalized
    assert parsed.boxes == [
        Box("title", "# Übungsblatt Sto 8", (115, 330, 465, 402)),
        Box("text", "Computational and Data Science", (575, 358, 880, 432)),
        Box("table", "<table><tr><td>a</td><td>b</td></tr></table>", (100, 600, 900, 1000)),
        Box("image", "", (515, 1252, 920, 1632)),
    ]


def test_tag_stripped_output_parses_like_the_tagged_form() -> None:
    assert parse(STRIPPED, 999, 1998) == parse(TAGGED, 999, 1998)


def test_coordinates_scale_by_999_and_round() -> None:
    parsed = parse("<|ref|>text<|/ref|><|det|>[[0, 0, 999, 500]]<|/det|>\nx", 1000, 300)

    # 500 / 999 * 300 = 150.15 -> 150; 999 maps to the full width.
    assert parsed.boxes[0].bbox == (0, 0, 1000, 150)


def test_out_of_range_coordinates_are_clamped_to_the_page() -> None:
    parsed = parse("<|ref|>text<|/ref|><|det|>[[-5, 10, 1500, 20]]<|/det|>\nx", 100, 100)

    assert parsed.boxes[0].bbox == (0, 1, 100, 2)


def test_locate_with_two_rectangles_gives_two_boxes_for_the_target() -> None:
    raw = "<|ref|>the red car<|/ref|><|det|>[[10, 20, 110, 220], [500, 600, 700, 800]]<|/det|>"

    parsed = parse(raw, 999, 999)

    assert parsed.markdown == ""
    assert parsed.boxes == [Box("the red car", "", (10, 20, 110, 220)), Box("the red car", "", (500, 600, 700, 800))]


def test_tag_stripped_locate_with_a_multi_word_target_is_recognised() -> None:
    parsed = parse("the red car[[10, 20, 110, 220],[500, 600, 700, 800]]", None, None)

    assert [box.label for box in parsed.boxes] == ["the red car", "the red car"]
    assert [box.bbox for box in parsed.boxes] == [(10, 20, 110, 220), (500, 600, 700, 800)]


def test_without_a_page_size_boxes_keep_normalised_coordinates() -> None:
    parsed = parse(TAGGED, None, None)

    assert parsed.normalized
    assert [box.bbox for box in parsed.boxes][:2] == [(115, 165, 465, 201), (575, 179, 880, 216)]


def test_a_missing_height_alone_also_means_normalised() -> None:
    assert parse(TAGGED, 800, None).normalized


def test_malformed_rectangles_are_skipped_but_their_text_is_kept() -> None:
    raw = (
        "<|ref|>text<|/ref|><|det|>[[1, 2, 3]]<|/det|>\nthree numbers\n"
        "<|ref|>text<|/ref|><|det|>[[a, b, c, d]]<|/det|>\nnot numbers\n"
        "<|ref|>text<|/ref|><|det|>[[1.5, 2, 3, 4], [10, 20, 30, 40]]<|/det|>\none good of two"
    )

    parsed = parse(raw, 999, 999)

    assert parsed.markdown == "three numbers\n\nnot numbers\n\none good of two"
    assert parsed.boxes == [Box("text", "one good of two", (10, 20, 30, 40))]


def test_ordinary_double_brackets_in_prose_and_tables_are_left_alone() -> None:
    raw = "See [[1, 2]] for details\n| cell | [[1, 2, 3, 4]] |\nfoo[[1, 2, 3, 4]] trailing words"

    parsed = parse(raw, 100, 100)

    assert parsed.markdown == raw
    assert parsed.boxes == []


def test_leftover_special_tokens_are_removed() -> None:
    raw = "<image>\n<|grounding|>Hello <|ref|>orphan<|/ref|>world<\uff5cend\u2581of\u2581sentence\uff5c>"

    assert parse(raw, 10, 10).markdown == "Hello world"


def test_blank_lines_are_collapsed_to_one() -> None:
    box = "<|ref|>text<|/ref|><|det|>[[1, 1, 2, 2]]<|/det|>"
    raw = f"{box}\na\n\n\n\n{box}\n\n\nb\n"

    assert parse(raw, 10, 10).markdown == "a\n\nb"


def test_plain_output_without_grounding_passes_through() -> None:
    parsed = parse("  Free OCR text\n\nsecond paragraph  ", 100, 100)

    assert parsed.markdown == "Free OCR text\n\nsecond paragraph"
    assert parsed.boxes == []


def test_a_repetition_loop_of_boxes_is_capped_and_the_rest_counted() -> None:
    from mcp_server.media.grounding import MAX_BOXES

    raw = "<|ref|>text<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>\nagain\n" * (MAX_BOXES + 500)
    parsed = parse(raw, 100, 100)
    assert len(parsed.boxes) == MAX_BOXES and parsed.dropped == 500
    assert parsed.markdown.count("again") == MAX_BOXES + 500  # the text is all kept


def test_a_label_of_a_megabyte_is_clipped() -> None:
    parsed = parse("<|ref|>" + "x" * 1_000_000 + "<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>", 10, 10)
    assert len(parsed.boxes[0].label) == 200
