"""The fake upstream's newer endpoints, one module per concern; tests/fake_upstream.py routes to them.

multipart.py  parsing multipart/form-data as DeepSeek's OCR API does (every refusal a 400)
documents.py  what an uploaded file is and how many pages it has (PDF, DOCX, PPTX, images)
tools.py      POST /v1/tools/ocr, /v1/tools/search and /v1/tools/fetch (WIRE.md §13)
"""
