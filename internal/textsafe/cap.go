package textsafe

import (
	"strconv"
	"unicode/utf8"
)

// Cap keeps at most limit bytes of b. When b is longer, out is the head of b
// (limit/2 bytes) and its tail (the rest of limit), each cut on a UTF-8
// boundary, with a marker line between them such as
// "\n…[12345 bytes omitted]…\n", and truncated is true. The marker is not
// counted in limit. When b fits, or limit <= 0 (no cap), out is b itself and
// truncated is false.
func Cap(b []byte, limit int) (out []byte, truncated bool) {
	if limit <= 0 || len(b) <= limit {
		return b, false
	}
	headLen, tailLen := split(limit)
	return joinCut(b[:headLen], b[len(b)-tailLen:], int64(len(b))), true
}

// split divides limit bytes between the head and the tail.
func split(limit int) (headLen, tailLen int) {
	headLen = limit / 2
	return headLen, limit - headLen
}

// joinCut trims head and tail to UTF-8 boundaries and joins them with the
// omission marker; total is the length of the whole input.
func joinCut(head, tail []byte, total int64) []byte {
	head = cutHead(head)
	tail = cutTail(tail)
	omitted := total - int64(len(head)) - int64(len(tail))
	out := make([]byte, 0, len(head)+len(tail)+40)
	out = append(out, head...)
	out = appendMarker(out, omitted)
	return append(out, tail...)
}

// appendMarker appends the line that replaces omitted bytes.
func appendMarker(dst []byte, omitted int64) []byte {
	dst = append(dst, "\n…["...)
	dst = strconv.AppendInt(dst, omitted, 10)
	return append(dst, " bytes omitted]…\n"...)
}

// cutHead drops an incomplete UTF-8 sequence at the end of head.
func cutHead(head []byte) []byte {
	for i := len(head) - 1; i >= 0 && i >= len(head)-utf8.UTFMax; i-- {
		if utf8.RuneStart(head[i]) {
			if !utf8.FullRune(head[i:]) {
				return head[:i]
			}
			return head
		}
	}
	return head
}

// cutTail drops the continuation bytes at the start of tail that belong to a
// rune cut off before it.
func cutTail(tail []byte) []byte {
	i := 0
	for i < len(tail) && i < utf8.UTFMax-1 && !utf8.RuneStart(tail[i]) {
		i++
	}
	return tail[i:]
}

// HeadTail is an io.Writer that keeps the first limit/2 and the last
// limit-limit/2 bytes of everything written to it and counts the total, so that a stream of
// any length is held in bounded memory. Its [HeadTail.Bytes] equals [Cap]
// applied to the whole stream. The zero value keeps nothing; use
// [NewHeadTail]. A HeadTail is not safe for concurrent use.
type HeadTail struct {
	limit   int
	headLen int
	tailLen int
	head    []byte
	ring    []byte // the last bytes; once full, the oldest is at pos
	pos     int
	total   int64
}

// NewHeadTail returns a HeadTail that keeps at most limit bytes (plus the
// marker). limit <= 0 keeps everything.
func NewHeadTail(limit int) *HeadTail {
	h := &HeadTail{limit: limit}
	if limit > 0 {
		h.headLen, h.tailLen = split(limit)
	}
	return h
}

// Write records p. It never fails.
func (h *HeadTail) Write(p []byte) (int, error) {
	n := len(p)
	h.total += int64(n)
	if h.limit <= 0 {
		h.head = append(h.head, p...)
		return n, nil
	}
	if room := h.headLen - len(h.head); room > 0 {
		k := min(room, len(p))
		h.head = append(h.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if len(p) >= h.tailLen {
		h.ring = append(h.ring[:0], p[len(p)-h.tailLen:]...)
		h.pos = 0
		return n, nil
	}
	if room := h.tailLen - len(h.ring); room > 0 {
		k := min(room, len(p))
		h.ring = append(h.ring, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(h.ring[h.pos:], p)
		h.pos = (h.pos + k) % h.tailLen
		p = p[k:]
	}
	return n, nil
}

// Total returns the number of bytes written so far.
func (h *HeadTail) Total() int64 { return h.total }

// Truncated reports whether any written byte was dropped.
func (h *HeadTail) Truncated() bool { return h.limit > 0 && h.total > int64(h.limit) }

// Bytes returns the kept content: everything written when nothing was
// dropped, else the head and the tail cut on UTF-8 boundaries with the same
// marker as [Cap] between them. The result is a fresh slice.
func (h *HeadTail) Bytes() []byte {
	tail := make([]byte, 0, len(h.ring))
	tail = append(tail, h.ring[h.pos:]...)
	tail = append(tail, h.ring[:h.pos]...)
	if !h.Truncated() {
		out := make([]byte, 0, len(h.head)+len(tail))
		out = append(out, h.head...)
		return append(out, tail...)
	}
	return joinCut(h.head, tail, h.total)
}
