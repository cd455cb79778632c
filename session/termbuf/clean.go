package termbuf

import (
	"unicode/utf8"
)

// Clean turns raw terminal output into text an agent can read:
//
//   - escape sequences (CSI, OSC, DCS, SOS/PM/APC, charset selection and
//     other ESC sequences) are removed;
//   - "\r\n" becomes "\n";
//   - a lone "\r" returns to the start of the line: text written after it
//     replaces the line (progress bars keep their last state);
//   - backspace erases the rune before it on the current line;
//   - "erase line" (CSI K after a "\r", CSI 2K) empties the current line;
//   - BEL, DEL, the C1 controls and the C0 controls other than "\n" and "\t"
//     are dropped.
//
// Bytes that are not valid UTF-8 are kept as they are, so that a later
// conversion (textsafe.ValidUTF8) can report the text as lossy.
func Clean(raw []byte) []byte {
	var c cleaner
	c.run(raw, false)
	return c.out
}

// cleaner applies Clean and, when asked, records for each output byte the
// input offset just past the byte that produced it.
type cleaner struct {
	out       []byte
	src       []int // src[j]: input offset just past the producer of out[j]
	track     bool
	lineStart int  // index in out where the current line begins
	pendingCR bool // a "\r" was seen: the next text replaces the line
	parse     parser
}

// run cleans raw into c.out, reusing c's buffers. With track set, c.src is
// filled too.
func (c *cleaner) run(raw []byte, track bool) {
	c.out = c.out[:0]
	c.src = c.src[:0]
	c.track = track
	c.lineStart = 0
	c.pendingCR = false
	c.parse = parser{}
	for i := 0; i < len(raw); {
		ev, j := c.parse.next(raw, i)
		switch ev.kind {
		case evText:
			c.text(raw[ev.start:j], ev.start)
		case evControl:
			c.control(ev.b, j)
		case evCSI:
			c.csi(ev)
		}
		i = j
	}
}

// text appends seg, which starts at input offset start.
func (c *cleaner) text(seg []byte, start int) {
	if c.pendingCR {
		c.truncate(c.lineStart)
		c.pendingCR = false
	}
	c.out = append(c.out, seg...)
	if !c.track {
		return
	}
	for k := 0; k < len(seg); {
		size := 1
		if seg[k] >= utf8.RuneSelf {
			_, size = utf8.DecodeRune(seg[k:])
		}
		for range size {
			c.src = append(c.src, start+k+size)
		}
		k += size
	}
}

func (c *cleaner) truncate(n int) {
	c.out = c.out[:n]
	if c.track {
		c.src = c.src[:n]
	}
}

func (c *cleaner) control(b byte, end int) {
	switch b {
	case '\n':
		c.pendingCR = false
		c.out = append(c.out, '\n')
		if c.track {
			c.src = append(c.src, end)
		}
		c.lineStart = len(c.out)
	case '\r':
		c.pendingCR = true
	case '\t':
		c.text([]byte{'\t'}, end-1)
	case '\b':
		if c.pendingCR || len(c.out) == c.lineStart {
			return
		}
		_, size := utf8.DecodeLastRune(c.out[c.lineStart:])
		c.truncate(len(c.out) - size)
	}
}

func (c *cleaner) csi(ev event) {
	if ev.b != 'K' || ev.private {
		return
	}
	// EL: 0 (default) erases to the end of the line, 2 the whole line. After
	// a "\r" the cursor is at the start, so both empty the line.
	if ev.param == 2 || (ev.param == 0 && c.pendingCR) {
		c.truncate(c.lineStart)
		c.pendingCR = false
	}
}

// Parser states.
const (
	stGround = iota
	stEsc
	stEscInter
	stCSI
	stOSC // terminated by BEL or ST
	stStr // DCS, SOS, PM, APC: terminated by ST
)

// Event kinds returned by parser.next.
const (
	evNone    = iota // bytes inside a sequence, or input ended
	evText           // printable text: ASCII, runes from U+00A0 on, invalid bytes
	evControl        // a C0 control to execute (ev.b)
	evCSI            // a complete CSI sequence with final byte ev.b
)

type event struct {
	kind    int
	start   int // evText: index of the text's first byte
	b       byte
	param   int  // first CSI parameter, 0 if missing
	private bool // CSI had a private prefix (< = > ?)
}

// parser is a small VT500-style state machine that separates text and C0
// controls from escape sequences. Unlike a byte-oriented 8-bit terminal it
// decodes UTF-8 in the ground state and never treats a raw byte 0x80–0x9F as
// a C1 introducer, so a stray byte cannot swallow the rest of the output.
type parser struct {
	st       int
	param    int
	inFirst  bool // still reading the first CSI parameter
	private  bool
	hasInter bool
}

// next consumes input from raw[i:] up to and including the next event and
// returns it with the index just past it; the text of an evText event is
// raw[ev.start:end]. Bytes that belong to escape sequences produce no event
// until the sequence ends (evCSI) or the input ends (evNone).
func (p *parser) next(raw []byte, i int) (event, int) {
	for i < len(raw) {
		c := raw[i]
		switch p.st {
		case stGround:
			switch {
			case c == 0x1b:
				p.st = stEsc
				i++
				continue
			case c < 0x20:
				return event{kind: evControl, b: c}, i + 1
			case c == 0x7f:
				i++
				continue
			}
			if n := textRun(raw[i:]); n > 0 {
				return event{kind: evText, start: i}, i + n
			}
			_, size := utf8.DecodeRune(raw[i:]) // a C1 control as UTF-8: dropped
			i += size
		case stEsc, stEscInter, stCSI:
			switch {
			case c == 0x1b:
				p.st = stEsc
				i++
				continue
			case c == 0x18 || c == 0x1a: // CAN, SUB abort the sequence
				p.st = stGround
				i++
				continue
			case c < 0x20: // executed without ending the sequence
				return event{kind: evControl, b: c}, i + 1
			case c == 0x7f:
				i++
				continue
			case c >= 0x80: // not part of a 7-bit sequence: abort, reread
				p.st = stGround
				continue
			}
			i++
			if ev, done := p.seqByte(c); done {
				return ev, i
			}
		case stOSC, stStr:
			switch {
			case c == 0x1b:
				p.st = stEsc
			case c == 0x18 || c == 0x1a:
				p.st = stGround
			case c == 0x07 && p.st == stOSC:
				p.st = stGround
			}
			i++
		}
	}
	return event{kind: evNone}, i
}

// textRun returns the length of the printable text at the start of b: ASCII
// 0x20–0x7e, UTF-8 runes other than the C1 controls, and invalid bytes.
func textRun(b []byte) int {
	i := 0
	for i < len(b) {
		c := b[i]
		if c < 0x80 {
			if c < 0x20 || c == 0x7f {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x80 && r <= 0x9f {
			break
		}
		i += size
	}
	return i
}

// seqByte handles a byte 0x20–0x7e inside an ESC or CSI sequence. done
// reports that a CSI sequence completed and ev describes it.
func (p *parser) seqByte(c byte) (ev event, done bool) {
	switch p.st {
	case stEsc:
		switch {
		case c == '[':
			p.st = stCSI
			p.param, p.inFirst, p.private, p.hasInter = 0, true, false, false
		case c == ']':
			p.st = stOSC
		case c == 'P' || c == 'X' || c == '^' || c == '_':
			p.st = stStr
		case c <= 0x2f: // intermediate: ESC ( B, ESC # 8, ESC % G, …
			p.st = stEscInter
		default: // final byte: ESC 7, ESC =, ESC M, ESC \ (ST), …
			p.st = stGround
		}
	case stEscInter:
		if c >= 0x30 {
			p.st = stGround
		}
	case stCSI:
		switch {
		case c >= '0' && c <= '9':
			if p.inFirst && p.param < 1<<16 {
				p.param = p.param*10 + int(c-'0')
			}
		case c == ';' || c == ':':
			p.inFirst = false
		case c >= 0x3c && c <= 0x3f:
			p.private = true
		case c <= 0x2f:
			p.hasInter = true
		default: // 0x40–0x7e: final byte
			p.st = stGround
			if p.hasInter {
				return event{}, false
			}
			return event{kind: evCSI, b: c, param: p.param, private: p.private}, true
		}
	}
	return event{}, false
}
