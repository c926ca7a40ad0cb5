#!/usr/bin/env bash
# A stand-in server command for a host under test (hosts.sh): records how the keys and the base URL arrived (absent,
# empty or set; never a value), runs `deepseek-mcp doctor` with exactly that environment, then becomes the server.
#   env_probe.sh RECORD_FILE SERVER
set -u
record=$1 server=$2
{
  for name in DEEPSEEK_API_KEY ATLASCLOUD_API_KEY DEEPSEEK_BASE_URL; do
    if [[ ! -v $name ]]; then
      echo "$name absent"
    elif [[ -z ${!name} ]]; then
      echo "$name empty"
    else
      echo "$name set"
    fi
  done
  "$server" doctor 2>&1
  echo "doctor exit $?"
} >"$record.tmp" </dev/null
mv "$record.tmp" "$record"
exec "$server"
