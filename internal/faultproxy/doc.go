// Package faultproxy is a small TCP proxy for fault tests: it forwards
// connections from a loopback port to a target and can, at any time, add
// latency in each direction, throttle, stall every connection without closing
// it (a blackhole), cut every connection (FIN) or reset it (RST).
//
// The kernels tests run on may lack the netem qdisc; this proxy stands in for
// it. Data is never reordered or altered: a stall holds bytes back and
// delivers them on Resume, as TCP would after a link comes back.
package faultproxy
