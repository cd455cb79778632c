// Package faults holds the end-to-end fault and scale tests of the session
// holder, against real OpenSSH sshd processes: links cut inside network
// namespaces of the tests' own (ip netns + veth), blackholed, slowed and reset
// connections through internal/faultproxy, sshd restarts, sshd's MaxStartups
// and MaxSessions limits, and 1,000 sessions in one holder.
//
// It has no code outside its tests. The scale tests run only when
// MRS_SCALE=1: scripts/test.sh runs them in a separate step without -race
// (the race detector's overhead does not fit 1,000 sessions in the CI
// budget), so they are skipped by the -race run and never skipped in CI.
package faults
