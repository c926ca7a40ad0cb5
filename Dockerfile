# deepseek-mcp as a container: stdio MCP by default (what a host runs with `docker run -i`), or streamable HTTP with
# `serve --http` (see README, "Install"). No key is baked in: pass DEEPSEEK_API_KEY / ATLASCLOUD_API_KEY (and, for
# HTTP, DEEPSEEK_MCP_HTTP_TOKEN) with `docker run -e`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY mcp_server ./mcp_server
# The package and its dependencies from PyPI, then the source is no longer needed.
RUN pip install --no-cache-dir . && rm -rf /src

# An unprivileged user with no login shell and no home to write keys into.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin deepseek
USER 10001
WORKDIR /tmp
# A container's files die with it and this user has no home: state stays in memory unless DEEPSEEK_MCP_STATE names
# a file on a mounted volume (/data/state.db) or a Redis URL (deploy/team/compose.yaml).
ENV DEEPSEEK_MCP_STATE=memory

EXPOSE 8000
ENTRYPOINT ["deepseek-mcp"]
CMD ["serve"]
