# Real IDE hosts against the installed console script (issue 13), sourced by run.sh after its launch checks.
# Each host runs from tests/interop/node_modules (versions pinned in package.json / package-lock.json) in a HOME of
# its own under $WORK, with its update checks and telemetry off by environment or settings (CI has no internet, and a
# host waiting on it must not stall a step), every command capped by a timeout. No account is needed: what is tested
# is what each host does before a model is involved, which is launching and connecting to the MCP server.
#
# env_probe.sh stands in for the server where a check needs to see what a host passed: how each key arrived (absent,
# empty or set, never the value) and `deepseek-mcp doctor` with exactly that environment, before it becomes the server.
#
# README's host set-up (`uv tool install .`) is run first, into a tool folder of its own whose bin folder holds only
# `deepseek-mcp` and goes first on every host's PATH: README's own host snippet and the shipped files then launch the
# command by name, exactly as written (placeholder key included: the server starts and every tool says what to replace).

HOST_BIN="$HERE/node_modules/.bin"
PROBE="$HERE/env_probe.sh"
README_BIN="$WORK/readme-bin"
HOST_ENV=(
  PATH="$README_BIN:$NODE_PATH_DIR:$PATH"
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

# README's host snippet (the json block under "## In a host"), as written, into the file $1.
readme_snippet() {
  "$PY" - "$REPO/README.md" "$1" <<'EOF'
import json, re, sys
section = open(sys.argv[1]).read().split("\n## In a host\n", 1)[1].split("\n## ", 1)[0]
config = json.loads(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))
entry = config["mcpServers"]["deepseek"]
assert entry["command"] == "deepseek-mcp" and entry.get("args", []) == [], entry
json.dump(config, open(sys.argv[2], "w"), indent=2)
EOF
}

readme_install() {
  [[ -x "$TOOLS_VENV/bin/uv" ]] || launchers
  export UV_CACHE_DIR="$WORK/uv-cache" UV_TOOL_DIR="$WORK/uv-tools-readme" UV_TOOL_BIN_DIR="$README_BIN" \
    UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
  cd "$REPO"
  logged "$LOGS/readme-install.log" timeout --foreground 300 "$TOOLS_VENV/bin/uv" tool install --python "$BASE_PYTHON" .
  expect_version "README's uv tool install ., then deepseek-mcp --version" "$("$README_BIN/deepseek-mcp" --version)"
  note "$("$TOOLS_VENV/bin/uv" --version): uv tool install . puts deepseek-mcp on the hosts' PATH"
}

# --- Claude Code ------------------------------------------------------------------------------------------------

claude_code() {
  local home="$WORK/claude" out version
  mkdir -p "$home/project"
  cd "$home/project"
  local claude=(env HOME="$home" "${HOST_ENV[@]}" timeout --foreground 90 "$HOST_BIN/claude")
  version="$("${claude[@]}" --version)"
  # 1. User scope, as ide-configs/claude-code/claude-mcp-add.sh registers it: `deepseek-mcp` by name, from PATH;
  #    next to it a server that exits at start-up (a bad setting), so "Connected" is seen to mean something.
  out="$("${claude[@]}" mcp add --transport stdio --scope user deepseek --env "DEEPSEEK_API_KEY=$KEY" \
    --env "DEEPSEEK_BASE_URL=$BASE_URL" -- deepseek-mcp 2>&1)"
  keep_log "$out" "" "$LOGS/claude-add.log"
  expect_line "$out" '^Added stdio MCP server deepseek' "claude mcp add: added"
  "${claude[@]}" mcp add --transport stdio --scope user broken --env DEEPSEEK_MCP_TIMEOUT=-1 -- "$SERVER" \
    >"$LOGS/claude-add-broken.log" 2>&1
  out="$("${claude[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/claude-list.log"
  expect_line "$out" "^deepseek: deepseek-mcp +- ✔ Connected\$" "claude mcp list: deepseek ✔ Connected"
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
assert entry["command"] == "deepseek-mcp" and entry["args"] == [], entry
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

  # 3. README's own snippet, as written, as a project's .mcp.json: `deepseek-mcp` by name, the placeholder key in.
  local rhome="$WORK/claude-readme"
  mkdir -p "$rhome/project" "$rhome/.claude"
  readme_snippet "$rhome/project/.mcp.json"
  echo '{"enabledMcpjsonServers": ["deepseek"]}' >"$rhome/.claude/settings.json"
  cd "$rhome/project"
  out="$(env HOME="$rhome" "${HOST_ENV[@]}" timeout --foreground 90 "$HOST_BIN/claude" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/claude-readme-list.log"
  expect_line "$out" '^deepseek: deepseek-mcp +- ✔ Connected$' "README's snippet as .mcp.json: ✔ Connected"
  note "$version: mcp add/list/get ✔ Connected (a failing server ✘ Failed); shipped .mcp.json pending, then approved: ✔ Connected, key expanded, unset Atlas key empty = unset; README's snippet ✔ Connected"
}

# --- Gemini CLI -------------------------------------------------------------------------------------------------

gemini_cli() {
  local home="$WORK/gemini" probe="$WORK/gemini/probe.txt" out version
  mkdir -p "$home/project" "$home/.gemini"
  cd "$home/project"
  # The shipped settings.json as written; beside it the same entry through the probe. Update checks and usage
  # statistics are settings, not variables, in Gemini CLI.
  "$PY" - "$REPO/ide-configs/gemini-cli/settings.json" "$home/.gemini/settings.json" "$SERVER" "$PROBE" "$probe" <<'EOF'
import copy, json, sys
shipped, target, server, probe, record = sys.argv[1:]
config = json.load(open(shipped))
entry = config["mcpServers"]["deepseek"]
assert entry["command"] == "deepseek-mcp" and entry["args"] == [], entry
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
  expect_line "$out" "deepseek: deepseek-mcp +\\(stdio\\) - Disabled" "untrusted folder: deepseek Disabled"
  [[ ! -e "$probe" ]] || { log "Gemini CLI started a server in an untrusted folder"; return 1; }
  # Trusted the way its trust dialog records it.
  printf '{"%s": "TRUST_FOLDER"}\n' "$home/project" >"$home/.gemini/trustedFolders.json"
  out="$("${gemini[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/gemini-list.log"
  expect_line "$out" "✓ deepseek: deepseek-mcp +\\(stdio\\) - Connected" "trusted folder: the shipped entry ✓ Connected"
  expect_line "$out" "✓ probe: $PROBE .*\\(stdio\\) - Connected" "trusted folder: the same entry through the probe ✓ Connected"
  expect_probe "$probe" "Gemini CLI"
  # README's snippet, as written, in a settings.json of its own: alone, since `gemini mcp list` gives an entry without
  # a `timeout` 5 s to connect, and three servers starting at once on a busy machine can take longer than that.
  local rhome="$WORK/gemini-readme"
  mkdir -p "$rhome/project" "$rhome/.gemini"
  readme_snippet "$rhome/readme.json"
  "$PY" - "$rhome/readme.json" "$home/.gemini/settings.json" "$rhome/.gemini/settings.json" <<'EOF'
import json, sys
readme, shipped = (json.load(open(path)) for path in sys.argv[1:3])
json.dump(readme | {k: v for k, v in shipped.items() if k != "mcpServers"}, open(sys.argv[3], "w"), indent=2)
EOF
  printf '{"%s": "TRUST_FOLDER"}\n' "$rhome/project" >"$rhome/.gemini/trustedFolders.json"
  cd "$rhome/project"
  out="$(env HOME="$rhome" "${HOST_ENV[@]}" timeout --foreground 120 "$NODE_BIN" \
    "$HERE/node_modules/@google/gemini-cli/bundle/gemini.js" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/gemini-readme-list.log"
  expect_line "$out" "✓ deepseek: deepseek-mcp +\\(stdio\\) - Connected" "README's snippet as settings.json: ✓ Connected"
  note "gemini $version: shipped settings.json Disabled when untrusted, ✓ Connected when trusted; README's snippet ✓ Connected; \$ATLASCLOUD_API_KEY unset -> empty -> treated as unset"
}

# --- Codex CLI --------------------------------------------------------------------------------------------------

codex_cli() {
  local home="$WORK/codex" out version
  mkdir -p "$home/.codex" "$home/project"
  cd "$home/project"
  # The shipped config.toml as written (`deepseek-mcp` by name, from README_BIN on PATH), the update check off first.
  { echo 'check_for_update_on_startup = false'; cat "$REPO/ide-configs/codex/config.toml"; } >"$home/.codex/config.toml"
  local codex=(env HOME="$home" CODEX_HOME="$home/.codex" DEEPSEEK_API_KEY="$KEY" "${HOST_ENV[@]}"
    timeout --foreground 60 "$NODE_BIN" "$HERE/node_modules/@openai/codex/bin/codex.js")
  version="$("${codex[@]}" --version 2>/dev/null)"
  out="$("${codex[@]}" mcp list 2>&1)"
  keep_log "$out" "" "$LOGS/codex-list.log"
  expect_line "$out" "^deepseek +deepseek-mcp +- +DEEPSEEK_API_KEY=\\*\\*\\*\\*\\*, ATLASCLOUD_API_KEY=\\*\\*\\*\\*\\* .*enabled" \
    "codex mcp list: deepseek enabled, both keys passed through (shown masked)"
  "${codex[@]}" mcp list --json >"$WORK/codex-list.json" 2>"$LOGS/codex-list-json.log"
  "${codex[@]}" mcp get deepseek --json >"$WORK/codex-get.json" 2>"$LOGS/codex-get-json.log"
  out="$("${codex[@]}" mcp get deepseek 2>&1)"
  keep_log "$out" "" "$LOGS/codex-get.log"
  expect_line "$out" '^  tool_timeout_sec: 600$' "codex mcp get deepseek: tool_timeout_sec 600"
  # What Codex parsed is what the shipped file says, field by field.
  "$PY" - "$REPO/ide-configs/codex/config.toml" "$WORK/codex-list.json" "$WORK/codex-get.json" deepseek-mcp <<'EOF'
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
  PATH="$README_BIN:$PATH" timeout --foreground 60 "$PY" "$HERE/stdio_client.py" --launch "$WORK/codex-launch.json" \
    --errlog "$LOGS/codex-launch-server.log" | sed 's/^/    /'
  codex_readme "$home" "$version"
  note "$version: mcp list/get parse the shipped config.toml exactly (keys masked) and refuse a malformed one; they never start a server (no offline way found), so Codex's resolved launch was run by the SDK client: $(wc -w <<<"$TOOLS") tools, chat; README's snippet as TOML: parsed, launched, chat names the placeholder"
}

# README's snippet in Codex's own shape (TOML), parsed by Codex, and the launch it resolves started by the SDK client:
# the server comes up on the placeholder key, and chat answers with what to replace.
codex_readme() { # home, version
  local home="$1/readme"
  mkdir -p "$home"
  readme_snippet "$home/readme.json"
  "$PY" - "$home/readme.json" "$home/config.toml" <<'EOF'
import json, sys
entry = json.load(open(sys.argv[1]))["mcpServers"]["deepseek"]
lines = ["check_for_update_on_startup = false", "[mcp_servers.deepseek]", f"command = {json.dumps(entry['command'])}",
         f"args = {json.dumps(entry.get('args', []))}", "[mcp_servers.deepseek.env]"]
lines += [f"{name} = {json.dumps(value)}" for name, value in entry.get("env", {}).items()]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
  env HOME="$1" CODEX_HOME="$home" "${HOST_ENV[@]}" timeout --foreground 60 "$NODE_BIN" \
    "$HERE/node_modules/@openai/codex/bin/codex.js" mcp get deepseek --json >"$home/get.json" 2>"$LOGS/codex-readme-get.log"
  "$PY" - "$home/get.json" "$home/readme.json" "$home/launch.json" <<'EOF'
import json, sys
got, entry = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["mcpServers"]["deepseek"]
t = got["transport"]
if (t["type"], t["command"], t["args"]) != ("stdio", entry["command"], entry.get("args", [])):
    sys.exit(f"codex parsed README's snippet as {t}, the snippet says {entry}")
json.dump({"command": t["command"], "args": t["args"], "env": entry["env"]}, open(sys.argv[3], "w"))
print(f"    README's snippet in codex: stdio {t['command']} {t['args']}, env {sorted(entry['env'])}")
EOF
  PATH="$README_BIN:$PATH" timeout --foreground 60 "$PY" "$HERE/stdio_client.py" --launch "$home/launch.json" \
    --expect-error "DEEPSEEK_API_KEY is still a placeholder" --errlog "$LOGS/codex-readme-server.log" | sed 's/^/    /'
}

step "README's host set-up (uv tool install .)" readme_install
# If it failed (its step says why), the host steps still run, on the venv's script under the same name.
[[ -x "$README_BIN/deepseek-mcp" ]] || { mkdir -p "$README_BIN" && ln -sf "$SERVER" "$README_BIN/deepseek-mcp"; }
step "Claude Code (claude mcp add/list/get, shipped .mcp.json, README's snippet)" claude_code
step "Gemini CLI (gemini mcp list, shipped settings.json, README's snippet)" gemini_cli
step "Codex CLI (codex mcp list/get, shipped config.toml, README's snippet)" codex_cli
