#!/usr/bin/env bash
# The container's documented HTTP form (docs/install.md, "Container"), run by packaging.sh inside `unshare --net`:
#   container_http.sh SERVER PYTHON [HOST]
# Starts `SERVER serve --http --host HOST --port 8000` (HOST 0.0.0.0 by default, which in a fresh network namespace
# is only its own loopback) with a token and the allowed hosts docs/install.md gives, then checks that a request without the
# token gets 401 and an initialize with it is answered by deepseek-mcp.
set -euo pipefail
server=$1 py=$2 host=${3:-0.0.0.0}
[[ "$host" == 127.0.0.1 ]] || ip link set lo up
port=8000
[[ "$host" == 127.0.0.1 ]] && port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="$("$py" -c 'import secrets; print(secrets.token_urlsafe(32))')"
DEEPSEEK_MCP_HTTP_TOKEN="$token" DEEPSEEK_MCP_HTTP_ALLOWED_HOSTS='localhost:*,127.0.0.1:*' \
  "$server" serve --http --host "$host" --port "$port" >"${TMPDIR:-/tmp}/container-http-server.$$.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "${TMPDIR:-/tmp}/container-http-server.$$.log"' EXIT
TOKEN="$token" timeout 60 "$py" - "$port" <<'PY'
import json, os, sys, time, urllib.error, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/mcp"
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "container-check", "version": "0"}}}).encode()
def post(token):
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
for _ in range(150):
    try:
        status, _ = post(None)
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("the server never accepted a connection")
if status != 401:
    sys.exit(f"without the token: HTTP {status}, expected 401")
print("without the token: HTTP 401")
status, text = post(os.environ["TOKEN"])
data = next((l[5:] for l in text.splitlines() if l.startswith("data:")), text)
info = json.loads(data)["result"]["serverInfo"]
if status != 200 or info["name"] != "deepseek-mcp":
    sys.exit(f"with the token: HTTP {status} {info}")
print(f"with the token: HTTP 200, initialize answered by {info['name']} {info['version']}")
PY
