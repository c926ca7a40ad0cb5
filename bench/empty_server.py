"""The floor: an empty MCPServer run over stdio exactly as deepseek-mcp runs (`MCPServer(...).run()`).

It has one trivial tool, so "start to the first tools/call answer" means the same thing on both sides; whatever
this costs is the SDK's, and the bench reports deepseek-mcp against it.
"""

from __future__ import annotations

from mcp.server import MCPServer

server = MCPServer("empty")


@server.tool()
async def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run()
