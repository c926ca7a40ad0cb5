# The one-click and one-line install channels (issue 13), sourced by run.sh after hosts.sh: the MCP Bundle, the MCP
# Registry entry, the container image and the release workflow's build job. Everything runs here except what needs
# GitHub, PyPI publishing or a container engine; each summary line says which part that was.

MCPB=("$NODE_BIN" "$HERE/node_modules/@anthropic-ai/mcpb/dist/cli/cli.js")
[[ -x "$TOOLS_VENV/bin/check-jsonschema" ]] || launchers >/dev/null 2>&1 || true
TOOL_PATH="$TOOLS_VENV/bin:$NODE_PATH_DIR:$PATH"
# A host launching a uv server passes on the machine's trust settings and uv's; never a download of Python.
UV_PASS=(--pass-env HOME --pass-env SSL_CERT_FILE --pass-env SSL_CERT_DIR --pass-env UV_CACHE_DIR
  --pass-env UV_PYTHON --pass-env UV_PYTHON_DOWNLOADS)

no_key_in() { # files...
  if grep -lF -- "$KEY" "$@" 2>/dev/null; then
    log "the key appeared in the files above"
    return 1
  fi
}

# --- MCP Bundle -------------------------------------------------------------------------------------------------

mcp_bundle() {
  local dir="$WORK/bundle" mcpb
  mcpb="$dir/deepseek-mcp-$VERSION.mcpb"
  logged "$LOGS/bundle-pack.log" timeout --foreground 120 bash "$REPO/bundle/pack.sh" "$mcpb" "${MCPB[@]}"
  grep -q '^Manifest schema validation passes!' "$LOGS/bundle-pack.log"
  echo "    mcpb validate + pack: $(basename "$mcpb"), $(stat -c %s "$mcpb") bytes"
  # The manifest against the server it bundles: tools, defaults, keys marked sensitive, variables README documents.
  "$PY" - "$REPO" "$TOOLS" <<'EOF'
import json, re, sys
from mcp_server.core.config import Limits, Settings
repo, tools = sys.argv[1], sorted(sys.argv[2].split())
manifest = json.load(open(f"{repo}/bundle/manifest.json"))
config, env = manifest["user_config"], manifest["server"]["mcp_config"]["env"]
problems = []
if sorted(t["name"] for t in manifest["tools"]) != tools:
    problems.append(f"tools {[t['name'] for t in manifest['tools']]} != {tools}")
defaults = {"timeout": Settings().timeout, "max_retries": Settings().max_retries,
            "max_concurrency": Limits().max_concurrent_upstream, "log_level": Settings().log_level}
for name, value in defaults.items():
    if config[name]["default"] != value:
        problems.append(f"user_config.{name} default {config[name]['default']!r}, the server's is {value!r}")
sensitive = sorted(name for name, option in config.items() if option.get("sensitive"))
if sensitive != ["atlascloud_api_key", "deepseek_api_key", "openai_api_key"]:
    problems.append(f"sensitive: {sensitive}")
# An optional value left empty must become "" (mcpb passes an unset one on as a literal ${user_config.x}).
problems += [f"user_config.{n} has no default" for n, o in config.items() if not o.get("required") and "default" not in o]
config_table = open(f"{repo}/docs/configuration.md").read().split("\n## ", 1)[0]
documented = set(re.findall(r"^\| `([A-Z_]+)` \|", config_table, re.MULTILINE))
if set(env) - documented:
    problems.append(f"env not in docs/configuration.md's table: {sorted(set(env) - documented)}")
if problems:
    sys.exit("bundle/manifest.json: " + "; ".join(problems))
print(f"    manifest: {len(tools)} tools, defaults = the server's, sensitive {sensitive}, {len(env)} env vars all in docs/configuration.md")
EOF
  # Installed as a host installs it: unpacked into a fresh directory, the launch resolved by the mcpb library itself
  # from what a user entered (the DeepSeek key and base URL; the rest left empty), then started as resolved.
  logged "$LOGS/bundle-unpack.log" "${MCPB[@]}" unpack "$mcpb" "$dir/installed"
  (cd "$HERE" && "$NODE_BIN" bundle_launch.mjs "$dir/installed" \
    "{\"deepseek_api_key\": \"$KEY\", \"deepseek_base_url\": \"$BASE_URL\"}") >"$dir/launch.json"
  "$PY" -c 'import json, sys; l = json.load(open(sys.argv[1])); print("    launch:", l["command"], *l["args"][:3], "...")' \
    "$dir/launch.json" | sed "s|$dir/installed|<bundle>|g"
  cd "$WORK"
  PATH="$TOOL_PATH" UV_CACHE_DIR="$WORK/uv-cache" UV_PYTHON="$BASE_PYTHON" UV_PYTHON_DOWNLOADS=never \
    timeout --foreground 300 "$PY" "$HERE/stdio_client.py" --launch "$dir/launch.json" "${UV_PASS[@]}" \
    --errlog "$LOGS/bundle-server.log" | sed 's/^/    /'
  [[ -x "$dir/installed/.venv/bin/python" ]] || { log "uv made no environment in the bundle"; return 1; }
  no_key_in "$LOGS/bundle-server.log" "$LOGS/bundle-pack.log"
  note "mcpb $("${MCPB[@]}" --version), manifest 0.4, server type uv: validate, pack, unpack, launch via mcpb's getMcpConfigForManifest + uv run: $(wc -w <<<"$TOOLS") tools, chat, both eras"
}

# --- MCP Registry entry -----------------------------------------------------------------------------------------

registry_entry() {
  local schema="$HERE/schemas/server.schema.json" bad="$WORK/server-bad.json"
  # The vendored schema is the published 2025-12-11 file, byte for byte.
  echo "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0  $schema" | sha256sum --check --quiet
  logged "$LOGS/server-json.log" "$TOOLS_VENV/bin/check-jsonschema" --schemafile "$schema" "$REPO/server.json"
  echo "    server.json valid against the 2025-12-11 schema (vendored, sha256 3fba0959...)"
  "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); d["description"] = "x" * 101; json.dump(d, open(sys.argv[2], "w"))' \
    "$REPO/server.json" "$bad"
  if "$TOOLS_VENV/bin/check-jsonschema" --schemafile "$schema" "$bad" >"$LOGS/server-json-bad.log" 2>&1; then
    log "a 101-character description passed the schema: the validator is not validating"
    return 1
  fi
  echo "    a 101-character description is rejected"
  "$PY" - "$REPO" "$VERSION" <<'EOF'
import json, re, sys, tomllib
repo, version = sys.argv[1:]
entry = json.load(open(f"{repo}/server.json"))
project = tomllib.load(open(f"{repo}/pyproject.toml", "rb"))["project"]
readme = open(f"{repo}/README.md").read()
problems = []
names = re.findall(r"mcp-name: (\S+)", readme)
if names != [entry["name"]]:
    problems.append(f"README's mcp-name lines {names} != server.json name {entry['name']}")
(package,) = entry["packages"]
want = {"registryType": "pypi", "identifier": project["name"], "version": version, "runtimeHint": "uvx",
        "transport": {"type": "stdio"}}
problems += [f"packages[0].{k} = {package.get(k)!r}, expected {v!r}" for k, v in want.items() if package.get(k) != v]
if entry["version"] != version:
    problems.append(f"version {entry['version']} != pyproject {version}")
env = {v["name"]: v for v in package["environmentVariables"]}
config = open(f"{repo}/docs/configuration.md").read().split("\n## ", 1)[0]
documented = set(re.findall(r"^\| `([A-Z_]+)` \|", config, re.MULTILINE))
if set(env) != documented:
    problems.append(f"environmentVariables {sorted(env)} != docs/configuration.md's table {sorted(documented)}")
secret = sorted(n for n, v in env.items() if v.get("isSecret"))
if secret != sorted(n for n in env if n.endswith("_API_KEY")):
    problems.append(f"isSecret on {secret}, expected every *_API_KEY")
if problems:
    sys.exit("server.json: " + "; ".join(problems))
print(f"    name {entry['name']} = README's mcp-name; pypi {project['name']} {version} via uvx; {len(env)} env vars = docs/configuration.md's; isSecret on {', '.join(secret)}")
EOF
  # Launched the way a registry client runs it (runtimeHint uvx + identifier); the wheel stands in for PyPI.
  [[ -n "$WHEEL" ]] || { log "no wheel (see the wheel step)"; return 1; }
  "$PY" - "$WORK/registry-launch.json" "$TOOLS_VENV/bin/uvx" "$WHEEL" "$KEY" "$BASE_URL" <<'EOF'
import json, sys
out, uvx, wheel, key, base = sys.argv[1:]
json.dump({"command": uvx, "args": ["--from", wheel, "deepseek-mcp"], "env": {"DEEPSEEK_API_KEY": key, "DEEPSEEK_BASE_URL": base}}, open(out, "w"))
EOF
  cd "$WORK"
  UV_CACHE_DIR="$WORK/uv-cache" UV_PYTHON="$BASE_PYTHON" UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1 \
    timeout --foreground 300 "$PY" "$HERE/stdio_client.py" --launch "$WORK/registry-launch.json" "${UV_PASS[@]}" \
    --pass-env UV_NO_CONFIG --errlog "$LOGS/registry-server.log" | sed 's/^/    /'
  no_key_in "$LOGS/registry-server.log"
  note "check-jsonschema $("$TOOLS_VENV/bin/check-jsonschema" --version | awk '{print $NF}'): server.json valid (2025-12-11), consistent with pyproject and README; uvx --from <wheel> as the entry says (not yet on PyPI): $(wc -w <<<"$TOOLS") tools, chat"
}

# --- Container image --------------------------------------------------------------------------------------------

container_image() {
  local dockerfile="$REPO/Dockerfile" how
  logged "$LOGS/hadolint.log" "$TOOLS_VENV/bin/hadolint" "$dockerfile"
  echo "    hadolint $("$TOOLS_VENV/bin/hadolint" --version | awk '{print $NF}'): no findings"
  if printf 'FROM python\nRUN pip install deepseek-mcp\n' | "$TOOLS_VENV/bin/hadolint" - >"$LOGS/hadolint-bad.log" 2>&1; then
    log "hadolint passed an untagged FROM and an unpinned pip install"
    return 1
  fi
  echo "    hadolint rejects an untagged FROM and an unpinned pip install"
  # What the image promises: slim Python, non-root, no key, stdio by default; the launch read from the file itself.
  "$PY" - "$dockerfile" "$REPO/.dockerignore" "$WORK/container-launch.json" "$WORK/fresh/bin" "$KEY" "$BASE_URL" <<'EOF'
import json, re, sys
dockerfile, ignore, out, bindir, key, base = sys.argv[1:]
lines = [l.strip() for l in re.sub(r"\\\n", " ", open(dockerfile).read()).splitlines() if l.strip() and not l.startswith("#")]
cmd = {}
for line in lines:
    word, _, rest = line.partition(" ")
    cmd.setdefault(word.upper(), []).append(rest)
problems = []
if not re.fullmatch(r"python:3\.1[1-9]-slim", cmd["FROM"][-1]):
    problems.append(f"FROM {cmd['FROM'][-1]}: expected python:3.1x-slim")
user = cmd.get("USER", ["root"])[-1]
if user in ("root", "0") or lines.index(f"USER {user}") > lines.index(next(l for l in lines if l.startswith("ENTRYPOINT"))):
    problems.append(f"USER {user}: the server must run unprivileged")
for line in lines:
    if re.match(r"(ENV|ARG)\b", line) and re.search(r"KEY|TOKEN|SECRET", line):
        problems.append(f"a secret-looking variable is baked in: {line}")
entrypoint, command = json.loads(cmd["ENTRYPOINT"][-1]), json.loads(cmd["CMD"][-1])
if entrypoint != ["deepseek-mcp"] or command != ["serve"]:
    problems.append(f"ENTRYPOINT {entrypoint} CMD {command}: expected deepseek-mcp serve (stdio)")
allowed = [l for l in open(ignore).read().splitlines() if l.startswith("!")]
if sorted(allowed) != sorted(["!pyproject.toml", "!README.md", "!LICENSE", "!mcp_server/"]):
    problems.append(f".dockerignore lets in {allowed}")
if problems:
    sys.exit("Dockerfile: " + "; ".join(problems))
json.dump({"command": f"{bindir}/{entrypoint[0]}", "args": entrypoint[1:] + command,
           "env": {"DEEPSEEK_API_KEY": key, "DEEPSEEK_BASE_URL": base}}, open(out, "w"))
print(f"    {cmd['FROM'][-1]}, USER {user}, no key baked in, ENTRYPOINT {entrypoint} CMD {command}, .dockerignore: 4 entries")
EOF
  # The image's entrypoint without the image: the same package from the wheel in a fresh venv (the fresh venv step),
  # started as ENTRYPOINT + CMD say.
  [[ -x "$WORK/fresh/bin/deepseek-mcp" ]] || { log "no fresh venv (see the fresh venv step)"; return 1; }
  cd "$WORK"
  timeout --foreground 60 "$PY" "$HERE/stdio_client.py" --launch "$WORK/container-launch.json" \
    --errlog "$LOGS/container-stdio.log" | sed 's/^/    /'
  # The documented HTTP form, `serve --http --host 0.0.0.0` with a token, in a network namespace of its own (as in a
  # container, 0.0.0.0 there is only its loopback).
  if unshare --net true 2>/dev/null && command -v ip >/dev/null; then
    unshare --net bash "$HERE/container_http.sh" "$WORK/fresh/bin/deepseek-mcp" "$PY" >"$LOGS/container-http.log" 2>&1 ||
      { tail -n 20 "$LOGS/container-http.log"; return 1; }
    how="serve --http --host 0.0.0.0 in its own network namespace: 401 without the token, initialize with it"
  else
    log "no network namespace here (unshare --net or ip missing): the HTTP form runs on 127.0.0.1 instead"
    bash "$HERE/container_http.sh" "$WORK/fresh/bin/deepseek-mcp" "$PY" 127.0.0.1 >"$LOGS/container-http.log" 2>&1 ||
      { tail -n 20 "$LOGS/container-http.log"; return 1; }
    how="serve --http on 127.0.0.1 (no network namespace available): 401 without the token, initialize with it"
  fi
  sed 's/^/    /' "$LOGS/container-http.log"
  local engine="no container engine (docker client only): image not built"
  timeout --foreground 10 docker info >/dev/null 2>&1 && engine="a docker engine answers, yet the image is not built here (no registry but PyPI/npm)"
  note "hadolint clean; $engine; its entrypoint from the wheel: stdio $(wc -w <<<"$TOOLS") tools + chat, $how"
}

# --- Release workflow -------------------------------------------------------------------------------------------

release_workflow() {
  local workflow="$REPO/.github/workflows/release.yml" checkout="$WORK/release-checkout"
  logged "$LOGS/release-schema.log" "$TOOLS_VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "$workflow"
  echo "    release.yml valid against SchemaStore's GitHub workflow schema"
  # The build job's `run:` steps, verbatim, in a checkout of the tracked files, with the tag this version would have.
  mkdir -p "$checkout"
  git -C "$REPO" ls-files -z --cached --others --exclude-standard | tar -C "$REPO" --null -T - -cf - | tar -C "$checkout" -xf -
  "$PY" - "$workflow" "$WORK/release-steps" <<'EOF'
import os, sys, yaml
workflow = yaml.safe_load(open(sys.argv[1]))
jobs = workflow["jobs"]
problems = []
if jobs["pypi"].get("permissions", {}).get("id-token") != "write":
    problems.append("pypi job lacks id-token: write (trusted publishing)")
if not any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for s in jobs["pypi"]["steps"]):
    problems.append("pypi job does not use pypa/gh-action-pypi-publish")
if any("password" in (s.get("with") or {}) for s in jobs["pypi"]["steps"]):
    problems.append("pypi job passes a password: trusted publishing needs none")
release = " ".join(s.get("run", "") for s in jobs["github-release"]["steps"])
if "gh release create" not in release or ".mcpb" not in release:
    problems.append("github-release job does not attach the .mcpb")
if problems:
    sys.exit("release.yml: " + "; ".join(problems))
os.makedirs(sys.argv[2])
steps = [s for s in jobs["build"]["steps"] if "run" in s]
for i, s in enumerate(steps):
    open(f"{sys.argv[2]}/{i:02d}.sh", "w").write(s["run"])
print(f"    pypi job: trusted publishing (id-token: write, no password); release job attaches dist/* and the .mcpb; {len(steps)} build steps to run")
EOF
  local script
  for script in "$WORK"/release-steps/*.sh; do
    (cd "$checkout" && PATH="$TOOL_PATH" GITHUB_REF_NAME="v$VERSION" timeout --foreground 300 bash -eo pipefail "$script") \
      >"$LOGS/release-step-${script##*/}.log" 2>&1 || {
      log "release build step failed: $(head -n 1 "$script")"
      tail -n 30 "$LOGS/release-step-${script##*/}.log" | sed 's/^/    /'
      return 1
    }
  done
  "$PY" - "$checkout" "$VERSION" <<'EOF'
import sys, tarfile, zipfile
checkout, version = sys.argv[1:]
from pathlib import Path
dist = sorted(p.name for p in Path(checkout, "dist").iterdir())
want = [f"deepseek_mcp-{version}-py3-none-any.whl", f"deepseek_mcp-{version}.tar.gz"]
bundle = sorted(p.name for p in Path(checkout, "bundle-dist").iterdir())
if dist != want or bundle != [f"deepseek-mcp-{version}.mcpb"]:
    sys.exit(f"release build made {dist} and {bundle}, expected {want} and deepseek-mcp-{version}.mcpb")
names = zipfile.ZipFile(Path(checkout, "bundle-dist", bundle[0])).namelist()
assert "manifest.json" in names and "mcp_server/server.py" in names, names
sdist = tarfile.open(Path(checkout, "dist", want[1])).getnames()
assert f"deepseek_mcp-{version}/mcp_server/server.py" in sdist, sdist[:10]
print(f"    built and twine-checked: {', '.join(want)}; bundle {bundle[0]} ({len(names)} files)")
EOF
  grep -h 'PASSED' "$LOGS"/release-step-*.log | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/    twine check: /'
  note "release.yml schema-valid; its build job's run steps here (tag check, python -m build, twine check --strict, bundle pack via npx mcpb); publishing to PyPI and the GitHub release need GitHub"
}

step "MCP Bundle (mcpb validate, pack, unpack, launch)" mcp_bundle
step "MCP Registry server.json (schema, uvx launch)" registry_entry
step "container image (hadolint, entrypoint without a container)" container_image
step "release workflow (build job run here)" release_workflow
