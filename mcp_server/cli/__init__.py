"""Commands for people at a shell: `doctor` and `call`. Hosts only ever run the bare `deepseek-mcp` (stdio)."""
