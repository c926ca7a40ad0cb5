#!/usr/bin/env bash
# Builds the MCP Bundle (.mcpb) that Claude Desktop installs by double-click: stages exactly what the bundle holds
# (manifest.json, main.py, pyproject.toml, README.md, LICENSE, mcp_server/), checks that the manifest's version is
# the package's, then `mcpb validate` and `mcpb pack`.
#
#   bundle/pack.sh OUT.mcpb [MCPB COMMAND ...]
#
# The mcpb command defaults to `mcpb` on PATH; CI passes the one pinned in tests/interop, the release workflow npx's.
set -euo pipefail
out=$(realpath -m "$1")
shift
mcpb=("$@")
((${#mcpb[@]})) || mcpb=(mcpb)
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

python3 - "$repo" <<'PY'
import json, sys, tomllib
repo = sys.argv[1]
package = tomllib.load(open(f"{repo}/pyproject.toml", "rb"))["project"]["version"]
manifest = json.load(open(f"{repo}/bundle/manifest.json"))["version"]
if manifest != package:
    sys.exit(f"bundle/manifest.json has version {manifest}, pyproject.toml {package}: keep them in step")
PY

stage="$(mktemp -d "${TMPDIR:-/tmp}/deepseek-mcp-bundle.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
cp "$repo/bundle/manifest.json" "$repo/bundle/main.py" "$repo/pyproject.toml" "$repo/README.md" "$repo/LICENSE" "$stage/"
cp -R "$repo/mcp_server" "$stage/mcp_server"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +

"${mcpb[@]}" validate "$stage/manifest.json"
mkdir -p "$(dirname "$out")"
"${mcpb[@]}" pack "$stage" "$out"
