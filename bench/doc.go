// Package bench holds the end-to-end benchmarks of mcp-remote-ssh against
// OpenSSH's own client (ssh, scp, sftp): the same user, key, sshd and cipher,
// measured side by side in one run, each reporting its ratio to OpenSSH with
// b.ReportMetric and a one-line human summary.
//
// The package has no non-test code besides this comment. The benchmarks start
// a real sshd (internal/sshdtest), build the binary once and drive it as a user
// would (the CLI through a warm background holder, `serve mcp` over stdio).
//
// Smoke mode (the default, what CI runs with -benchtime 1x) scales sizes and
// round counts down so the whole package runs in well under three minutes;
// MRS_BENCH_FULL=1 gives the full numbers:
//
//	MRS_BENCH_FULL=1 go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/
//	bash bench/run.sh   # the same, then a table of the ratios
//
// MRS_BENCH_BIN=PATH benchmarks a given build of the binary instead of
// building the working tree (e.g. to compare two builds on one machine).
//
// With MRS_BENCH_SUMMARY=FILE every summary line is also appended to FILE as
// tab-separated fields (benchmark, ours, baseline, ratio, goal, verdict).
package bench
