"""The providers' HTTP APIs: which provider serves a call, the one pooled client, streams and errors.

The modules, in the order a call passes through them:

    providers.py    what differs between providers, as data, and the route a call takes
    catalog.py      model ids: traits of known families, and each provider's live list
    listing.py      reading a provider's live model list
    tool_apis.py    DeepSeek's tool APIs (OCR, search, fetch) as data
    client.py       the one pooled HTTP client: streaming, retries, timeouts, errors translated at one boundary
    sse.py          server-sent events, comments (keep-alives) included
    completion.py   one completion built from the streamed chunks
    errors.py       the upstream exception tree and the mapping of an HTTP error onto it
"""
