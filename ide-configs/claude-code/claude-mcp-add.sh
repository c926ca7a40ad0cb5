#!/usr/bin/env bash
# Registers deepseek-mcp with Claude Code for your user (every project). The command must be
# on PATH: `uv tool install .` (or `pipx install .`) in a checkout puts it in ~/.local/bin.
# The key comes from your shell, never from this file:
#   export DEEPSEEK_API_KEY=...        # required
#   export ATLASCLOUD_API_KEY=...      # optional: DeepSeek-OCR for ocr figure, describe, locate
# The server name goes before --env on purpose: --env takes several values
# and would otherwise swallow the name ("Invalid environment variable format").
set -euo pipefail

: "${DEEPSEEK_API_KEY:?export DEEPSEEK_API_KEY first}"

atlas_env=()
if [[ -n "${ATLASCLOUD_API_KEY:-}" ]]; then
  atlas_env=(--env ATLASCLOUD_API_KEY="$ATLASCLOUD_API_KEY")
fi

claude mcp add --transport stdio --scope user deepseek \
  --env DEEPSEEK_API_KEY="$DEEPSEEK_API_KEY" \
  ${atlas_env[@]+"${atlas_env[@]}"} \
  -- deepseek-mcp
