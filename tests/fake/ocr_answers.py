"""A large answer of DeepSeek's OCR API, built fast: `pages` pages of `boxes` grounded lines each (issue 17, item 5:
1,000 pages of 400 boxes froze every other call for 16 s)."""

from __future__ import annotations

import json


def big_ocr_answer(pages: int, boxes: int) -> bytes:
    """The JSON body, every page the same text (what matters is its size and the work of parsing it)."""
    lines = [
        f"<|ref|>text<|/ref|><|det|>[[{i % 900}, {i % 990}, {i % 900 + 90}, {i % 990 + 9}]]<|/det|>\n"
        f"Line {i} of the recognised text on this page.\n"
        for i in range(boxes)
    ]
    text = json.dumps("".join(lines))
    items = ",".join(f'{{"index":{i},"text":{text},"finish_reason":"stop"}}' for i in range(pages))
    usage = f'{{"input_tokens":{256 * pages},"output_tokens":{boxes * 12 * pages},"total_tokens":0}}'
    return f'{{"object":"ocr.result","page_count":{pages},"pages":[{items}],"usage":{usage}}}'.encode()
