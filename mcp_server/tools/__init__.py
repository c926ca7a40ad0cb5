"""The MCP tools: each module registers the tools it names, checks their arguments and shapes their results.

The modules:

    chat.py          chat and reason
    files.py         `files` on chat and reason, as the tools see it
    fim.py           fim
    ocr/             ocr (a room of its own: routes, the OCR API, results and their parts)
    investigate.py   investigate, investigate_out.py what it returns, folders.py which folder it explores (the loop
                     itself is in agent/)
    review.py        review, and review_out.py what it returns (the review itself is in review/)
    delegate.py      delegate, and delegate_out.py what it returns (the copy, edits, check, verification: delegate/)
    web.py           web_search and web_fetch
    models.py        list_models
    account.py       balance
    common.py        output shapes and helpers the tools share
"""
