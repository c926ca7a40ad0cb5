"""What every call shares to be served over MCP: the running server's state, the transports, progress and prompts.

The modules, in the order a call passes through them:

    http.py       the Streamable HTTP transport (`serve --http`): bearer token, DNS-rebinding protection, body bounds
    app.py        the server's shared state (opened and closed by the lifespan) and the helpers tools reach it with
    arguments.py  a tool's bad arguments said in one voice: what was wrong and what is allowed
    protocol.py   protocol features beyond tools: argument completion and `logging/setLevel`
    progress.py   progress notifications while a call runs, and the one heartbeat task for the whole server
    prompts.py    the MCP prompts (hosts show them as slash commands)
"""
