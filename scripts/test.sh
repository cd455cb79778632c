#!/usr/bin/env bash
# Runs every check and test of mcp-remote-ssh: formatting, vet (linux and darwin),
# the whole test suite with -race against real OpenSSH sshd processes on loopback,
# and a short smoke run of every benchmark. Needs root (tests create throwaway users).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PATH:/usr/local/go/bin"
echo "== gofmt"
bad=$(gofmt -l . | grep -v '^vendor/' || true)
if [ -n "$bad" ]; then echo "gofmt needed on:"; echo "$bad"; exit 1; fi
echo "== go vet (linux, darwin)"
go vet ./...
GOOS=darwin go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 45m ./...
echo "== benchmarks (smoke: one iteration each)"
out=$(mktemp)
if ! go test -run '^$' -bench . -benchtime 1x -timeout 15m ./... >"$out" 2>&1; then cat "$out"; rm -f "$out"; exit 1; fi
grep -E '^(Benchmark|ok|FAIL)' "$out" || true
rm -f "$out"
echo "== release check (goreleaser check + snapshot release, archive, cask; cold ~7 min, warm ~30 s)"
bash scripts/release-check.sh
echo "== MCP conformance suite (server scenarios of a tools-only server; ~30 s)"
bash scripts/conformance.sh
echo "== all checks passed"
