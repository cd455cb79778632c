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
echo "== release check (goreleaser check + snapshot release, archive, cask; ~30 s, 5-9 min with a cold Go build cache)"
bash scripts/release-check.sh
echo "== MCP conformance suite (server scenarios of a tools-only server; ~30 s)"
bash scripts/conformance.sh
echo "== scale and soak tests (faults/, MRS_SCALE=1, without -race: never skipped here)"
out=$(mktemp)
if ! MRS_SCALE=1 go test -count=1 -timeout 20m -run 'Scale|Soak' -v ./faults/ >"$out" 2>&1; then cat "$out"; rm -f "$out"; exit 1; fi
grep -E '^(--- |\s+scale_test\.go:[0-9]+:|ok)' "$out" || true
rm -f "$out"
echo "== fuzzing (10 s per target)"
while IFS=: read -r file fn; do
  go test -run '^$' -fuzz "^${fn}\$" -fuzztime 10s "./$(dirname "$file")/"
done < <(grep -rHoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' . | sed -E 's|^\./||; s|:func |:|' | sort)
echo "== all checks passed"
