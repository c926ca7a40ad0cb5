# Real IDE hosts against the installed console script (issue 13), sourced by run.sh after its launch checks.
# Each host runs from tests/interop/node_modules (versions pinned in package.json / package-lock.json) in a HOME of
# its own under $WORK, with its update checks and telemetry off by environment or settings (CI has no internet, and a
# host waiting on it must not stall a step), every command capped by a timeout. No account is needed: what is tested
# is what each host does before a model is involved, which is launching and connecting to the MCP server.
#
# env_probe.sh stands in for the server where a check needs to see what a host passed: how each key arrived (absent,
# empty or set, never the value) and `deepseek-mcp doctor` with exactly that environment, before it becomes the server.

HOST_BIN="$HERE/node_modules/.bin"
PROBE="$HERE/env_probe.sh"
HOST_ENV=(
  PATH="$NODE_PATH_DIR:$PATH"
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1
  GEMINI_TELEMETRY_ENABLED=false NO_UPDATE_NOTIFIER=1
)

# The output of a host command, with the fake key replaced, into a log; fails if the key was anywhere but in the
# lines matching $2 (a host echoing back the env it stores), so a log or summary can never carry it.
keep_log() { # output, allowed-line-regex-or-empty, logfile
  local leaked
  leaked="$(grep -F -- "$KEY" <<<"$1" | grep -Ev -- "${2:-^\$^}" || true)"
  printf '%s\n' "${1//"$KEY"/<key>}" >"$3"
  if [[ -n "$leaked" ]]; then
    log "the key appeared in host output outside the expected lines (see ${3##*/}, redacted)"
    return 1
  fi
}

expect_line() { # output, extended regex, what
  grep -Eq -- "$2" <<<"$1" || {
    log "expected $3 (/$2/), got:"
    printf '%s\n' "${1//"$KEY"/<key>}" | sed 's/^/    /' | tail -n 20
    return 1
  }
  echo "    $3"
}

# What env_probe.sh recorded, checked: the key arrived and reached DeepSeek (the fake accepts only $KEY), and the
# Atlas key arrived empty yet counts as unset (the server would otherwise try Atlas Cloud at its default URL).
expect_probe() { # probe file, host
  [[ -s "$1" ]] || { log "$2 never started the probe server ($1 missing)"; return 1; }
  local got
  got="$(<"$1")"
  expect_line "$got" '^DEEPSEEK_API_KEY set$' "$2 passed DEEPSEEK_API_KEY"
  expect_line "$got" '^ATLASCLOUD_API_KEY empty$' "$2 passed the unset ATLASCLOUD_API_KEY as an empty value"
  expect_line "$got" 'ATLASCLOUD_API_KEY +not set' "doctor in that environment: ATLASCLOUD_API_KEY not set"
  expect_line "$got" '^PASS +DeepSeek /models' "doctor in that environment: DeepSeek /models answers with the key"
  expect_line "$got" '^doctor exit 0$' "doctor exit 0"
  grep -qF -- "$KEY" "$1" && { log "the probe record holds the key"; return 1; }
  return 0
}

# --- Claude Code ------------------------------------------------------------------------------------------------

claude_code() {
  local home="$WORK/claude" out version
  mkdir -p "$home/project"
  cd "$home/project"
  local claude=(env HOME="$home" "${HOST_ENV[@]}" timeout --foreground 90 "$HOST_BIN/claude")
  version="$("${claude[@]}" --version)"
  # 1. User scope, as README and ide-configs/claude-code/claude-mcp-add.sh register it, with the installed script;
  #    next to it a server that exits at start-up (a bad setting), so "Connected" is seen to mean something.
  out="$("${claude[@]}" mcp add --transport stdio --scope user deepseek --env "DEEPSEEK_API_KEY=$KEY" \
    --env "DEEPSEEK_BASE_URL=$BASE_URL" -- "$SERVER" 2>&1)"
  keep_log "$out" "" "$LOGS/claude-add.log"
  expect_line "$out" '^Added stdio MCP server deepseek' "claude mcp add: added"
  "${claude[@]}" mcp add --transport stdio --scope user broken --env DEEPSEEK_MCP_TIMEOUT=-1 -- "$SERVER" \
    >"$LOGS/claude-add-broken.log" 2>&1
  out="$("${claude[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/claude-list.log"
  expect_line "$out" "^deepseek: $SERVER +- ✔ Connected\$" "claude mcp list: deepseek ✔ Connected"
  expect_line "$out" "^broken: $SERVER +- ✘ Failed" "claude mcp list: a server that exits at start-up ✘ Failed"
  # `mcp get` prints the env it stores, key included: allowed on that line only, and redacted in the log.
  out="$("${claude[@]}" mcp get deepseek 2>&1)"
  keep_log "$out" "^ +DEEPSEEK_API_KEY=" "$LOGS/claude-get.log"
  expect_line "$out" '^ +Status: ✔ Connected$' "claude mcp get deepseek: Status ✔ Connected"
  expect_line "$out" '^ +Scope: User config' "claude mcp get deepseek: user scope"
  # What Claude Code logged of the connection: our server's name and version, no website URL, no key.
  local mcplogs needle
  mcplogs="$(cat "$home"/.cache/claude-cli-nodejs/*/mcp-logs-deepseek/*.jsonl)"
  needle='\"serverVersion\":{\"name\":\"deepseek-mcp\",\"version\":\"'"$VERSION"'\"}'
  grep -qF -- "$needle" <<<"$mcplogs" || { log "Claude Code's MCP log lacks $needle"; return 1; }
  echo "    Claude Code's MCP log: serverVersion {name: deepseek-mcp, version: $VERSION}, no websiteUrl"
  keep_log "$mcplogs" "" "$LOGS/claude-mcp-logs.log"

  # 2. The shipped project file .mcp.json (command pointed at the probe, which then becomes the installed script),
  #    in a project of its own: pending until approved, then approved the way the host offers outside its dialog
  #    (enabledMcpjsonServers in the user's settings), with ${DEEPSEEK_API_KEY} and ${ATLASCLOUD_API_KEY:-} expanded.
  local phome="$WORK/claude-project" probe="$WORK/claude-project/probe.txt"
  mkdir -p "$phome/project" "$phome/.claude"
  "$PY" - "$REPO/ide-configs/claude-code/.mcp.json" "$phome/project/.mcp.json" "$PROBE" "$probe" "$SERVER" <<'EOF'
import json, sys
shipped, target, probe, record, server = sys.argv[1:]
config = json.load(open(shipped))
entry = config["mcpServers"]["deepseek"]
assert entry["command"] == "uvx" and entry["args"] == ["deepseek-mcp"], entry
entry["command"], entry["args"] = probe, [record, server]
json.dump(config, open(target, "w"), indent=2)
EOF
  cd "$phome/project"
  claude=(env HOME="$phome" DEEPSEEK_API_KEY="$KEY" DEEPSEEK_BASE_URL="$BASE_URL" "${HOST_ENV[@]}"
    timeout --foreground 90 "$HOST_BIN/claude")
  out="$("${claude[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/claude-project-pending.log"
  expect_line "$out" '^deepseek: .* - ⏸ Pending approval' "shipped .mcp.json: ⏸ Pending approval until approved"
  [[ ! -e "$probe" ]] || { log "Claude Code started an unapproved project server"; return 1; }
  echo '{"enabledMcpjsonServers": ["deepseek"]}' >"$phome/.claude/settings.json"
  out="$("${claude[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/claude-project-list.log"
  expect_line "$out" "^deepseek: $PROBE .* - ✔ Connected\$" "shipped .mcp.json, approved: ✔ Connected"
  expect_probe "$probe" "Claude Code (.mcp.json)"
  note "$version: mcp add/list/get ✔ Connected (a failing server ✘ Failed); shipped .mcp.json pending, then approved: ✔ Connected, key expanded, unset Atlas key empty = unset"
}

# --- Gemini CLI -------------------------------------------------------------------------------------------------

gemini_cli() {
  local home="$WORK/gemini" probe="$WORK/gemini/probe.txt" out version
  mkdir -p "$home/project" "$home/.gemini"
  cd "$home/project"
  # The shipped settings.json, its command pointed at the installed script; beside it the same entry through the
  # probe. Update checks and usage statistics are settings, not variables, in Gemini CLI.
  "$PY" - "$REPO/ide-configs/gemini-cli/settings.json" "$home/.gemini/settings.json" "$SERVER" "$PROBE" "$probe" <<'EOF'
import copy, json, sys
shipped, target, server, probe, record = sys.argv[1:]
config = json.load(open(shipped))
entry = config["mcpServers"]["deepseek"]
assert entry["command"] == "uvx" and entry["args"] == ["deepseek-mcp"], entry
entry["command"], entry["args"] = server, []
config["mcpServers"]["probe"] = copy.deepcopy(entry) | {"command": probe, "args": [record, server]}
config["general"] = {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}
config["privacy"] = {"usageStatisticsEnabled": False}
config["security"] = {"folderTrust": {"enabled": True}}
json.dump(config, open(target, "w"), indent=2)
EOF
  local gemini=(env HOME="$home" DEEPSEEK_API_KEY="$KEY" DEEPSEEK_BASE_URL="$BASE_URL" "${HOST_ENV[@]}"
    timeout --foreground 120 "$NODE_BIN" "$HERE/node_modules/@google/gemini-cli/bundle/gemini.js")
  version="$("${gemini[@]}" --version)"
  out="$("${gemini[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/gemini-untrusted.log"
  expect_line "$out" "deepseek: $SERVER +\\(stdio\\) - Disabled" "untrusted folder: deepseek Disabled"
  [[ ! -e "$probe" ]] || { log "Gemini CLI started a server in an untrusted folder"; return 1; }
  # Trusted the way its trust dialog records it.
  printf '{"%s": "TRUST_FOLDER"}\n' "$home/project" >"$home/.gemini/trustedFolders.json"
  out="$("${gemini[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/gemini-list.log"
  expect_line "$out" "✓ deepseek: $SERVER +\\(stdio\\) - Connected" "trusted folder: deepseek ✓ Connected"
  expect_line "$out" "✓ probe: $PROBE .*\\(stdio\\) - Connected" "trusted folder: the same entry through the probe ✓ Connected"
  expect_probe "$probe" "Gemini CLI"
  note "gemini $version: shipped settings.json Disabled when untrusted, ✓ Connected when trusted; \$ATLASCLOUD_API_KEY unset -> empty -> treated as unset"
}

# --- Codex CLI --------------------------------------------------------------------------------------------------

codex_cli() {
  local home="$WORK/codex" out version
  mkdir -p "$home/.codex" "$home/project"
  cd "$home/project"
  # The shipped config.toml with its command pointed at the installed script (update check off, a root key, first).
  {
    echo 'check_for_update_on_startup = false'
    sed -e "s|^command = \"uvx\"\$|command = \"$SERVER\"|" -e 's|^args = \["deepseek-mcp"\]$|args = []|' \
      "$REPO/ide-configs/codex/config.toml"
  } >"$home/.codex/config.toml"
  grep -q "^command = \"$SERVER\"\$" "$home/.codex/config.toml" && grep -q '^args = \[\]$' "$home/.codex/config.toml" ||
    { log "ide-configs/codex/config.toml no longer has the command/args lines this step rewrites"; return 1; }
  local codex=(env HOME="$home" CODEX_HOME="$home/.codex" DEEPSEEK_API_KEY="$KEY" "${HOST_ENV[@]}"
    timeout --foreground 60 "$NODE_BIN" "$HERE/node_modules/@openai/codex/bin/codex.js")
  version="$("${codex[@]}" --version 2>/dev/null)"
  out="$("${codex[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/codex-list.log"
  expect_line "$out" "^deepseek +$SERVER +- +DEEPSEEK_API_KEY=\\*\\*\\*\\*\\*, ATLASCLOUD_API_KEY=\\*\\*\\*\\*\\* .*enabled" \
    "codex mcp list: deepseek enabled, both keys passed through (shown masked)"
  "${codex[@]}" mcp list --json >"$WORK/codex-list.json" 2>"$LOGS/codex-list-json.log"
  "${codex[@]}" mcp get deepseek --json >"$WORK/codex-get.json" 2>"$LOGS/codex-get-json.log"
  out="$("${codex[@]}" mcp get deepseek 2>&1)"
  keep_log "$out" "" "$LOGS/codex-get.log"
  expect_line "$out" '^  tool_timeout_sec: 600$' "codex mcp get deepseek: tool_timeout_sec 600"
  # What Codex parsed is what the shipped file says, field by field.
  "$PY" - "$REPO/ide-configs/codex/config.toml" "$WORK/codex-list.json" "$WORK/codex-get.json" "$SERVER" <<'EOF'
import json, sys, tomllib
shipped = tomllib.load(open(sys.argv[1], "rb"))["mcp_servers"]["deepseek"]
listed, got, server = json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), sys.argv[4]
assert [s["name"] for s in listed] == ["deepseek"], listed
for where, entry in (("list", listed[0]), ("get", got)):
    t = entry["transport"]
    seen = (entry["enabled"], t["type"], t["command"], t["args"], t["env_vars"], entry["startup_timeout_sec"], entry["tool_timeout_sec"])
    want = (True, "stdio", server, [], shipped["env_vars"], shipped["startup_timeout_sec"], shipped["tool_timeout_sec"])
    if seen != want:
        sys.exit(f"codex mcp {where} --json parsed {seen}, the shipped file says {want}")
print(f"    codex mcp list/get --json: stdio {server}, env_vars {shipped['env_vars']}, timeouts {shipped['startup_timeout_sec']}/{shipped['tool_timeout_sec']} s")
EOF
  # Codex rejects a malformed entry, so the checks above would catch a broken shipped file.
  mkdir -p "$home/bad"
  sed 's/^tool_timeout_sec = .*/tool_timeout_sec = "soon"/' "$home/.codex/config.toml" >"$home/bad/config.toml"
  if env HOME="$home" CODEX_HOME="$home/bad" "${HOST_ENV[@]}" timeout --foreground 60 "$NODE_BIN" \
    "$HERE/node_modules/@openai/codex/bin/codex.js" mcp list >"$LOGS/codex-bad.log" 2>&1; then
    log "codex mcp list accepted tool_timeout_sec = \"soon\""
    return 1
  fi
  echo "    codex mcp list refuses a malformed entry (tool_timeout_sec = \"soon\")"
  # `codex mcp list/get` never start a server (their status is the config's enabled flag), so the launch Codex
  # resolved (command, args, env_vars passed through from this environment) is started here by the SDK client.
  cd "$WORK"
  DEEPSEEK_API_KEY="$KEY" DEEPSEEK_BASE_URL="$BASE_URL" "$PY" - "$WORK/codex-get.json" "$WORK/codex-launch.json" <<'EOF'
import json, os, sys
t = json.load(open(sys.argv[1]))["transport"]
env = {name: os.environ[name] for name in t["env_vars"] if name in os.environ} | {"DEEPSEEK_BASE_URL": os.environ["DEEPSEEK_BASE_URL"]}
json.dump({"command": t["command"], "args": t["args"], "env": env}, open(sys.argv[2], "w"))
EOF
  timeout --foreground 60 "$PY" "$HERE/stdio_client.py" --launch "$WORK/codex-launch.json" \
    --errlog "$LOGS/codex-launch-server.log" | sed 's/^/    /'
  note "$version: mcp list/get parse the shipped config.toml exactly (keys masked) and refuse a malformed one; they never start a server (no offline way found), so Codex's resolved launch was run by the SDK client: $(wc -w <<<"$TOOLS") tools, chat"
}

step "Claude Code (claude mcp add/list/get, shipped .mcp.json)" claude_code
step "Gemini CLI (gemini mcp list, shipped settings.json)" gemini_cli
step "Codex CLI (codex mcp list/get, shipped config.toml)" codex_cli
