#!/usr/bin/env bash
# Runs the benchmark suite of mcp-remote-ssh against OpenSSH (ssh, scp, sftp)
# on a throwaway sshd on loopback, and prints a table of the ratios.
#
#   bash bench/run.sh                    # full sizes (1 GiB transfers, 1,000 sessions, 200 rounds)
#   MRS_BENCH_FULL=0 bash bench/run.sh   # smoke sizes, as CI runs them
#   bash bench/run.sh -bench 'Exec|MCP'  # a subset (extra flags go to go test)
#
# Needs root (the test bed creates throwaway users), /usr/sbin/sshd and the
# OpenSSH client; scripts/deps.sh installs them. The raw `go test` output is
# kept in a temporary file whose path is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export MRS_BENCH_FULL="${MRS_BENCH_FULL-1}"

summary=$(mktemp /tmp/mrs-bench-summary.XXXXXX)
raw=$(mktemp /tmp/mrs-bench-output.XXXXXX)
export MRS_BENCH_SUMMARY="$summary"

mode=full
[ "$MRS_BENCH_FULL" = 1 ] || mode=smoke
echo "== mcp-remote-ssh benchmarks ($mode mode): $(nproc) cores, $(ssh -V 2>&1 | cut -d, -f1), $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v n="$(nproc)" '{ exit !($1 > n) }' /proc/loadavg; then
	echo "warning: the machine is busy (load above the core count): ratios will be noisy"
fi
status=0
go test -run '^$' -bench . -benchtime 1x -timeout 90m "$@" ./bench/ 2>&1 | tee "$raw" || status=$?

echo
echo "== ratios (ours vs OpenSSH; for rates higher is better, for times and memory lower is better)"
awk -F'\t' '
BEGIN { n = 0 }
{ for (i = 1; i <= 7; i++) { cell[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n++ }
END {
	split("benchmark|ours|OpenSSH|ratio|goal|verdict|note", h, "|")
	for (i = 1; i <= 7; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
	fmt = "%-" w[1] "s  %-" w[2] "s  %-" w[3] "s  %-" w[4] "s  %-" w[5] "s  %-" w[6] "s  %s\n"
	printf fmt, h[1], h[2], h[3], h[4], h[5], h[6], h[7]
	for (r = 0; r < n; r++) printf fmt, cell[r, 1], cell[r, 2], cell[r, 3], cell[r, 4], cell[r, 5], cell[r, 6], cell[r, 7]
}' "$summary"
echo
echo "raw output: $raw"
rm -f "$summary"
exit "$status"
