package termbuf

// echoState is the outcome of findEcho.
type echoState int

const (
	echoAbsent  echoState = iota // no echo near the start: search everything
	echoFound                    // the echo ends at the returned offset
	echoPending                  // the output ends inside what may be the echo
)

// findEcho looks for the terminal's echo of sent near the start of raw and
// returns the offset just past it.
//
// The comparison is lenient, as PTYs and line editors mangle what they echo:
// escape sequences (colours of syntax highlighting, bracketed paste) and C0
// controls such as "\r", "\n" and backspace are ignored on both sides, and a
// space just before a "\r" or a backspace in raw (how line editors force a
// wrap) may be skipped. The echo must begin within the first
// len(sent)*2+64 bytes of raw. When raw ends part-way through a possible echo,
// the state is echoPending: the caller should wait for more output.
func findEcho(raw, sent []byte) (end int, state echoState) {
	want := visibleBytes(sent)
	if len(want) == 0 {
		return 0, echoAbsent
	}
	window := len(sent)*2 + 64
	// active holds the positions in want reached by partial matches: an NFA
	// simulation, so all candidate starts are tracked in one pass.
	var active, next []int
	seen := make([]int, len(want)) // seen[s] == gen: s is already in next
	gen := 0
	var p parser
	for i := 0; i < len(raw); {
		ev, j := p.next(raw, i)
		if ev.kind != evText {
			i = j
			continue
		}
		for k := ev.start; k < j; k++ {
			canStart := k < window
			if !canStart && len(active) == 0 {
				return 0, echoAbsent
			}
			c := raw[k]
			optional := c == ' ' && (k+1 == len(raw) || raw[k+1] == '\r' || raw[k+1] == '\b')
			gen++
			next = next[:0]
			if canStart {
				active = append(active, 0)
			}
			for _, s := range active {
				if want[s] == c {
					if s+1 == len(want) {
						return k + 1, echoFound
					}
					if seen[s+1] != gen {
						seen[s+1] = gen
						next = append(next, s+1)
					}
				}
				if optional && s > 0 && seen[s] != gen {
					seen[s] = gen
					next = append(next, s)
				}
			}
			active, next = next, active
		}
		i = j
	}
	if len(active) > 0 {
		return 0, echoPending
	}
	return 0, echoAbsent
}

// visibleBytes returns the text of b without escape sequences and controls.
func visibleBytes(b []byte) []byte {
	var out []byte
	var p parser
	for i := 0; i < len(b); {
		ev, j := p.next(b, i)
		if ev.kind == evText {
			out = append(out, b[ev.start:j]...)
		}
		i = j
	}
	return out
}
