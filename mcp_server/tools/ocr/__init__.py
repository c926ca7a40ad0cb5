"""The `ocr` tool: which route reads a document, the routes, and what comes back.

The modules, in the order a call passes through them:

    tool.py      the tool: routing, and the chat route (DeepSeek-OCR or a vision model on page images)
    api.py       the OCR API route (DeepSeek reads the uploaded file itself)
    results.py   the model's text into pages and boxes, the content blocks and their notices
    parts.py     a long result split into inline pages and resources read with resources/read
    model.py     the structured result: OcrOutput, PageOut, BoxOut
"""
