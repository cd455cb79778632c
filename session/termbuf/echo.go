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
	// active holds the positions in want reached by partial matches; it is
	// an NFA simulation, so all candidate starts are tracked in one pass.
	var active, next []int
	seen := make([]int, len(want)) // seen[j] == gen: j already in next
	gen := 0
	add := func(j int) {
		if seen[j] != gen {
			seen[j] = gen
			next = append(next, j)
		}
	}
	var p parser
	for i := 0; i < len(raw); {
		if i >= window && len(active) == 0 {
			return 0, echoAbsent
		}
		ev, j := p.next(raw, i)
		if ev.kind != evText {
			i = j
			continue
		}
		i = ev.start
		optional := j-i == 1 && raw[i] == ' ' && (j == len(raw) || raw[j] == '\r' || raw[j] == '\b')
		for k := i; k < j; k++ {
			gen++
			next = next[:0]
			step := func(s int) bool {
				if want[s] == raw[k] {
					if s+1 == len(want) {
						return true
					}
					add(s + 1)
				}
				if optional && s > 0 {
					add(s)
				}
				return false
			}
			for _, s := range active {
				if step(s) {
					return j, echoFound
				}
			}
			if i < window && step(0) {
				return j, echoFound
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
