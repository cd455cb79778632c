package termbuf

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// WaitSpec says what [Buffer.Wait] waits for.
type WaitSpec struct {
	// Since is the offset where the output to look at begins, usually
	// where the last send began.
	Since int64
	// Match finds the pattern. With a nil Match, Wait returns after Quiet
	// of silence, or, when Quiet is 0 too, when the shell exits.
	Match Matcher
	// Raw makes Match see the raw bytes instead of [Clean]'s text.
	Raw bool
	// Quiet, with a nil Match, is how long no new byte may arrive before
	// Wait returns. The clock starts when Wait is called.
	Quiet time.Duration
	// Skip is the text just sent to the shell. When the output from Since
	// begins with the terminal's echo of it, Match looks only after the
	// echo, so that the pattern is not found in the command line itself.
	// The echo is recognised leniently (see Wait).
	Skip []byte
}

// WaitResult is what [Buffer.Wait] saw.
type WaitResult struct {
	// Matched reports that Match found the pattern.
	Matched bool
	// Quiet reports that no byte arrived for WaitSpec.Quiet.
	Quiet bool
	// TimedOut reports that the context's deadline passed first.
	TimedOut bool
	// Exited reports that the shell has exited (whether or not it is
	// why Wait returned), and ExitStatus its status.
	Exited     bool
	ExitStatus int
	// Data is the raw output from From to Next: up to and including the
	// match, or everything seen otherwise.
	Data []byte
	// From is the offset Data begins at: the Since asked for, unless
	// those bytes were dropped.
	From int64
	// Next is the offset just after Data, where the next read or wait
	// should start.
	Next int64
	// Dropped counts the bytes from Since that were gone from the buffer.
	Dropped int64
}

// Wait blocks until spec.Match finds its pattern in the output from
// spec.Since, or (with no Match) until spec.Quiet passes without output, or
// until the shell exits, or until ctx ends, and returns what it saw.
//
// Matching runs on the [Clean]ed text unless spec.Raw is set, and is retried
// at each Write; the match end is mapped back to a raw offset for
// WaitResult.Next. Echo skipping: when spec.Skip is set and the echo of it is
// found starting within the first len(Skip)*2+64 bytes from Since, ignoring
// escape sequences, "\r", "\n", backspaces and the spaces line editors put
// before a "\r" to wrap, the search starts after it; while the output ends
// part-way through the echo, Wait waits for more.
//
// When ctx's deadline passes, Wait returns TimedOut and a nil error. When ctx
// is canceled otherwise, it returns what it saw and ctx.Err().
func (b *Buffer) Wait(ctx context.Context, spec WaitSpec) (WaitResult, error) {
	var w waiter
	w.spec = spec
	var quiet *time.Timer
	var quietC <-chan time.Time
	if spec.Match == nil && spec.Quiet > 0 {
		quiet = time.NewTimer(spec.Quiet)
		defer quiet.Stop()
		quietC = quiet.C
	}
	var snap snapshot
	first := true
	for {
		prev := snap.next
		snap = b.snapshot(spec.Since, first, snap)
		if first || snap.next != prev {
			if !first && quiet != nil {
				quiet.Reset(spec.Quiet)
			}
			first = false
			if res, ok := w.check(snap, snap.exited); ok {
				return res, nil
			}
		}
		if snap.exited {
			return w.result(snap), nil
		}
		select {
		case <-snap.changed:
		case <-quietC:
			res := w.result(snap)
			res.Quiet = true
			return res, nil
		case <-ctx.Done():
			snap = b.snapshot(spec.Since, false, snap)
			if res, ok := w.check(snap, true); ok {
				return res, nil
			}
			res := w.result(snap)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				res.TimedOut = true
				return res, nil
			}
			return res, ctx.Err()
		}
	}
}

// snapshot is a consistent view of a Buffer taken by a waiter.
type snapshot struct {
	data    []byte // held bytes from `from` on; reused between snapshots
	from    int64
	next    int64
	dropped int64
	exited  bool
	status  int
	changed <-chan struct{}
}

// snapshot returns the Buffer's state as seen from since, reusing prev's
// data buffer; the bytes are copied only when force is set or the buffer has
// changed since prev.
func (b *Buffer) snapshot(since int64, force bool, prev snapshot) snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := prev
	if force || b.end != prev.next {
		held, from, dropped := b.heldLocked(since)
		s.data = append(prev.data[:0], held...)
		s.from, s.dropped = from, dropped
		s.next = from + int64(len(held))
	}
	s.exited, s.status = b.exited, b.status
	s.changed = b.changedLocked()
	return s
}

// waiter holds a Wait's spec and reusable buffers.
type waiter struct {
	spec  WaitSpec
	clean cleaner
	// skipped is set once echo skipping is settled; regionAt is then the
	// absolute offset where the search region begins.
	skipped  bool
	regionAt int64
	// resumeAt is the absolute offset the next search starts at: the
	// output before it was searched already, without a match.
	resumeAt int64
}

// Matching a flood of output stays O(n) in time and O(waitChunk) in memory:
// a check cleans and searches at most waitChunk bytes at a time, and output
// already searched without a match is searched again only from the start of
// a line in the last 2*waitLookback bytes before the searched end (or from
// waitLookback before it, inside a long line), so that a match that arrived
// in pieces is still found.
const (
	waitChunk    = 64 << 10
	waitLookback = 4 << 10
)

// check runs the matcher on snap; final means no more output is expected
// soon, so a partial echo no longer holds the search back.
func (w *waiter) check(snap snapshot, final bool) (WaitResult, bool) {
	if w.spec.Match == nil {
		return WaitResult{}, false
	}
	data := snap.data
	if !w.skipped {
		skip, settle := 0, true
		if len(w.spec.Skip) > 0 && snap.dropped == 0 {
			end, state := findEcho(data, w.spec.Skip)
			switch state {
			case echoFound:
				skip = end
			case echoPending:
				if !final {
					return WaitResult{}, false
				}
			case echoAbsent:
				// Not seen yet, but it may still arrive while the output is
				// shorter than the window the echo must start in (it may
				// even be empty): search, but decide again next time.
				settle = final || len(data) >= len(w.spec.Skip)*2+64
			}
		}
		w.regionAt = snap.from + int64(skip)
		w.skipped = settle
	}
	for {
		off := int(max(w.regionAt, w.resumeAt, snap.from) - snap.from)
		end := min(len(data), off+waitChunk)
		if rel, ok := w.match(data[off:end]); ok {
			res := w.result(snap)
			res.Matched = true
			res.Data = res.Data[:off+rel]
			res.Next = snap.from + int64(off+rel)
			return res, true
		}
		w.resume(snap.from, data[:end], off)
		if end == len(data) {
			return WaitResult{}, false
		}
	}
}

// match runs the matcher on region (cleaned unless the wait is raw) and
// returns the offset in region just past the match.
func (w *waiter) match(region []byte) (int, bool) {
	if w.spec.Raw {
		e, ok := w.spec.Match(region)
		return min(max(e, 0), len(region)), ok
	}
	w.clean.run(region, true)
	e, ok := w.spec.Match(w.clean.out)
	if !ok {
		return 0, false
	}
	if e = min(e, len(w.clean.out)); e > 0 {
		return w.clean.src[e-1], true
	}
	return 0, true
}

// resume moves resumeAt forward once data[off:] (data starts at absolute
// offset from) was searched without a match: to the start of a line in the
// 2*waitLookback bytes before the end, else waitLookback before the end. A
// pattern longer than waitLookback that arrives in pieces may be missed, and
// a regular expression's ^ without (?m) may match at such a line start.
func (w *waiter) resume(from int64, data []byte, off int) {
	cut := len(data) - waitLookback
	if cut <= off {
		return
	}
	lo := max(off, cut-waitLookback)
	if nl := bytes.LastIndexByte(data[lo:cut], '\n'); nl >= 0 {
		cut = lo + nl + 1
	}
	w.resumeAt = from + int64(cut)
}

// result describes everything in snap.
func (w *waiter) result(snap snapshot) WaitResult {
	return WaitResult{
		Exited:     snap.exited,
		ExitStatus: snap.status,
		Data:       append([]byte(nil), snap.data...),
		From:       snap.from,
		Next:       snap.next,
		Dropped:    snap.dropped,
	}
}
