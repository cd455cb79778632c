package termbuf

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// elapse lets d pass on the fake clock of a synctest bubble.
func elapse(d time.Duration) {
	timer := time.NewTimer(d)
	<-timer.C
}

type waitOutcome struct {
	res WaitResult
	err error
}

// startWait runs b.Wait in a goroutine and returns where its outcome arrives.
func startWait(ctx context.Context, b *Buffer, spec WaitSpec) <-chan waitOutcome {
	done := make(chan waitOutcome, 1)
	go func() {
		res, err := b.Wait(ctx, spec)
		done <- waitOutcome{res, err}
	}()
	return done
}

// expired returns a context whose deadline has passed.
func expired(t *testing.T) context.Context {
	ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
	t.Cleanup(cancel)
	return ctx
}

func TestWaitOutputAlreadyThere(t *testing.T) {
	t.Parallel()
	wrapEcho := "echo " + strings.Repeat("a", 15) + " \r" + strings.Repeat("a", 15) + "\r\n"
	crlfEcho := "echo " + strings.Repeat("a", 15) + "\r\n" + strings.Repeat("a", 15) + "\r\n"
	a30 := strings.Repeat("a", 30)
	tests := []struct {
		name    string
		before  string // written before Since
		skip    string
		output  string // written after Since
		match   Matcher
		raw     bool
		matched bool
		data    string
	}{
		{
			name: "echo then output", skip: "echo hi\n",
			output: "echo hi\r\nhi\r\n$ ", match: Literal("hi"),
			matched: true, data: "echo hi\r\nhi",
		},
		{
			name: "without skip the echo matches", skip: "",
			output: "echo hi\r\nhi\r\n$ ", match: Literal("hi"),
			matched: true, data: "echo hi",
		},
		{
			name: "prompt before since is not seen", before: "$ ", skip: "make\n",
			output: "make\r\ncc -o x x.c\r\n$ ", match: Literal("$ "),
			matched: true, data: "make\r\ncc -o x x.c\r\n$ ",
		},
		{
			name: "no new prompt yet", before: "$ ", skip: "make\n",
			output: "make\r\ncc -o x x.c\r\n", match: Literal("$ "),
		},
		{
			name: "prompt redrawn before the echo", before: "$ ", skip: "ls\n",
			output: "\r$ ls\r\nfile\r\n$ ", match: Literal("$ "),
			matched: true, data: "\r$ ls\r\nfile\r\n$ ",
		},
		{
			name: "no echo when the terminal does not echo", skip: "secret\n",
			output: "ok\r\n$ ", match: Literal("ok"),
			matched: true, data: "ok",
		},
		{
			name: "highlighted echo and bracketed paste", skip: "echo hi",
			output: "\x1b[?2004h\x1b[32mecho\x1b[39m hi\r\n\x1b[?2004l\rhi\r\n", match: Literal("hi"),
			matched: true, data: "\x1b[?2004h\x1b[32mecho\x1b[39m hi\r\n\x1b[?2004l\rhi",
		},
		{
			name: "echo wrapped with space and cr", skip: "echo " + a30 + "\n",
			output: wrapEcho + a30 + "\r\n$ ", match: Literal(a30),
			matched: true, data: wrapEcho + a30,
		},
		{
			name: "echo wrapped with crlf", skip: "echo " + a30 + "\n",
			output: crlfEcho + a30 + "\r\n$ ", match: Literal(a30),
			matched: true, data: crlfEcho + a30,
		},
		{
			name: "echo too far from the start is not skipped", skip: "hi",
			output: strings.Repeat("x", 100) + "hi\r\nhi", match: Literal("hi"),
			matched: true, data: strings.Repeat("x", 100) + "hi",
		},
		{
			name: "match inside colours ends at the text", output: "\x1b[1mdone\x1b[0m rest", match: Literal("done"),
			matched: true, data: "\x1b[1mdone",
		},
		{
			name: "regexp", skip: "make test\n",
			output: "make test\r\nok  \tpkg\t0.1s\r\n12 passed\r\n$ ", match: Regexp(regexp.MustCompile(`(\d+) passed`)),
			matched: true, data: "make test\r\nok  \tpkg\t0.1s\r\n12 passed",
		},
		{
			name: "regexp at line start", skip: "",
			output: "a$ b\r\n$ ", match: Regexp(regexp.MustCompile(`(?m)^\$ `)),
			matched: true, data: "a$ b\r\n$ ",
		},
		{
			name: "raw sees escapes", output: "plain \x1b[31mred", match: Literal("\x1b[31m"), raw: true,
			matched: true, data: "plain \x1b[31m",
		},
		{
			name: "cleaned text has no escapes", output: "plain \x1b[31mred", match: Literal("\x1b[31m"),
		},
		{
			name: "redrawn text is gone", output: "10%\r55%\r100%\r\n", match: Literal("55%"),
		},
		{
			name: "empty literal matches at once", skip: "ls\n", output: "ls\r\nx", match: Literal(""),
			matched: true, data: "ls",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := New(4096)
			b.Write([]byte(tt.before))
			since := b.End()
			b.Write([]byte(tt.output))
			res, err := b.Wait(expired(t), WaitSpec{Since: since, Match: tt.match, Raw: tt.raw, Skip: []byte(tt.skip)})
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if res.Matched != tt.matched || res.TimedOut == tt.matched {
				t.Fatalf("Matched, TimedOut = %v, %v; want %v, %v", res.Matched, res.TimedOut, tt.matched, !tt.matched)
			}
			want := tt.data
			if !tt.matched {
				want = tt.output
			}
			if string(res.Data) != want {
				t.Errorf("Data = %q, want %q", res.Data, want)
			}
			if res.From != since || res.Next != since+int64(len(want)) {
				t.Errorf("From, Next = %d, %d; want %d, %d", res.From, res.Next, since, since+int64(len(want)))
			}
		})
	}
}

func TestWaitMatchArrivesLater(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(4096)
		b.Write([]byte("$ "))
		since := b.End()
		start := time.Now()
		done := startWait(t.Context(), b, WaitSpec{Since: since, Match: Literal("$ "), Skip: []byte("make\n")})
		for _, chunk := range []string{"ma", "ke\r", "\ncompiling\r\n", "$"} {
			b.Write([]byte(chunk))
			synctest.Wait()
			select {
			case out := <-done:
				t.Fatalf("Wait returned after %q: %+v", chunk, out.res)
			default:
			}
			elapse(10 * time.Millisecond)
		}
		b.Write([]byte(" "))
		out := <-done
		if out.err != nil || !out.res.Matched {
			t.Fatalf("Wait = %+v, %v", out.res, out.err)
		}
		if got := string(out.res.Data); got != "make\r\ncompiling\r\n$ " {
			t.Errorf("Data = %q", got)
		}
		if waited := time.Since(start); waited != 40*time.Millisecond {
			t.Errorf("Wait returned after %v, want 40ms: at once after the last write", waited)
		}
	})
}

func TestWaitPartialEchoHoldsBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(4096)
		done := startWait(t.Context(), b, WaitSpec{Match: Literal("ech"), Skip: []byte("echo hi\n")})
		b.Write([]byte("ech"))
		synctest.Wait()
		select {
		case out := <-done:
			t.Fatalf("Wait matched inside a partial echo: %+v", out.res)
		default:
		}
		b.Write([]byte("o hi\r\nechoed: hi\r\n"))
		out := <-done
		if !out.res.Matched || string(out.res.Data) != "echo hi\r\nech" {
			t.Errorf("Wait = %+v, %v", out.res, out.err)
		}
	})
}

func TestWaitPartialEchoAtDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(4096)
		b.Write([]byte("ech"))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		res, err := b.Wait(ctx, WaitSpec{Match: Literal("ech"), Skip: []byte("echo hi\n")})
		if err != nil || !res.Matched || res.TimedOut {
			t.Errorf("Wait = %+v, %v; want a match at the deadline", res, err)
		}
	})
}

func TestWaitQuiet(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(4096)
		b.Write([]byte("old"))
		start := time.Now()
		done := startWait(t.Context(), b, WaitSpec{Since: 3, Quiet: 100 * time.Millisecond})
		elapse(60 * time.Millisecond)
		b.Write([]byte("a"))
		elapse(60 * time.Millisecond)
		b.Write([]byte("b"))
		out := <-done
		if waited := time.Since(start); waited != 220*time.Millisecond {
			t.Errorf("quiet Wait returned after %v, want 220ms", waited)
		}
		if out.err != nil || !out.res.Quiet || out.res.Matched || out.res.TimedOut {
			t.Errorf("Wait = %+v, %v", out.res, out.err)
		}
		if string(out.res.Data) != "ab" || out.res.Next != 5 {
			t.Errorf("Data, Next = %q, %d; want \"ab\", 5", out.res.Data, out.res.Next)
		}
	})
}

func TestWaitExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spec  WaitSpec
		final string
	}{
		{"pattern never printed", WaitSpec{Match: Literal("never")}, "bye\r\n"},
		{"quiet", WaitSpec{Quiet: time.Hour}, "bye\r\n"},
		{"nothing but exit", WaitSpec{}, "bye\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := New(4096)
				done := startWait(t.Context(), b, tt.spec)
				b.Write([]byte(tt.final))
				synctest.Wait()
				b.Close(3)
				out := <-done
				if out.err != nil || !out.res.Exited || out.res.ExitStatus != 3 || out.res.Matched || out.res.TimedOut {
					t.Fatalf("Wait = %+v, %v", out.res, out.err)
				}
				if string(out.res.Data) != tt.final {
					t.Errorf("Data = %q, want %q", out.res.Data, tt.final)
				}
				// Once exited, Wait returns at once.
				res, err := b.Wait(t.Context(), tt.spec)
				if err != nil || !res.Exited {
					t.Errorf("second Wait = %+v, %v", res, err)
				}
			})
		})
	}
}

func TestWaitMatchBeforeExit(t *testing.T) {
	t.Parallel()
	b := New(4096)
	b.Write([]byte("done\r\n"))
	b.Close(0)
	res, err := b.Wait(t.Context(), WaitSpec{Match: Literal("done")})
	if err != nil || !res.Matched || !res.Exited || string(res.Data) != "done" {
		t.Errorf("Wait = %+v, %v", res, err)
	}
}

func TestWaitContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := New(4096)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		done := startWait(ctx, b, WaitSpec{Match: Literal("never")})
		b.Write([]byte("some output"))
		out := <-done
		if out.err != nil || !out.res.TimedOut || out.res.Matched {
			t.Fatalf("Wait = %+v, %v; want timed out, nil error", out.res, out.err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("Wait returned after %v, want 2s", waited)
		}
		if string(out.res.Data) != "some output" || out.res.Next != 11 {
			t.Errorf("Data, Next = %q, %d", out.res.Data, out.res.Next)
		}

		ctx, cancel = context.WithCancel(t.Context())
		done = startWait(ctx, b, WaitSpec{Since: 5, Match: Literal("never")})
		synctest.Wait()
		cancel()
		out = <-done
		if !errors.Is(out.err, context.Canceled) || out.res.TimedOut {
			t.Errorf("Wait = %+v, %v; want context.Canceled", out.res, out.err)
		}
		if string(out.res.Data) != "output" {
			t.Errorf("Data = %q, want what was seen", out.res.Data)
		}
	})
}

func TestWaitDropped(t *testing.T) {
	t.Parallel()
	b := New(8)
	b.Write([]byte("echo hi\r\nhi\r\n"))
	res, err := b.Wait(t.Context(), WaitSpec{Since: 0, Match: Literal("hi"), Skip: []byte("echo hi")})
	if err != nil || !res.Matched {
		t.Fatalf("Wait = %+v, %v", res, err)
	}
	if res.Dropped != 5 || res.From != 5 || string(res.Data) != "hi" || res.Next != 7 {
		t.Errorf("Dropped, From, Data, Next = %d, %d, %q, %d; want 5, 5, \"hi\", 7", res.Dropped, res.From, res.Data, res.Next)
	}
}

func TestWaitConcurrent(t *testing.T) {
	t.Parallel()
	b := New(1 << 16)
	var wg sync.WaitGroup
	const waiters = 8
	results := make(chan WaitResult, waiters)
	for i := range waiters {
		wg.Go(func() {
			spec := WaitSpec{Match: Literal("marker-7\n")}
			if i%2 == 1 {
				spec.Match = Regexp(regexp.MustCompile(`marker-7\n`))
			}
			res, err := b.Wait(t.Context(), spec)
			if err != nil {
				t.Error(err)
			}
			results <- res
		})
	}
	for i := range 10 {
		b.Write([]byte(strings.Repeat("noise ", 50) + "\r\n"))
		b.Write([]byte("marker-" + string(rune('0'+i)) + "\r\n"))
	}
	wg.Wait()
	close(results)
	for res := range results {
		if !res.Matched || !strings.HasSuffix(string(res.Data), "marker-7\r\n") {
			t.Errorf("Wait = matched %v, data ending %q", res.Matched, res.Data[max(0, len(res.Data)-20):])
		}
	}
}

func TestFindEcho(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		raw   string
		sent  string
		end   int
		state echoState
	}{
		{"exact", "ls\r\nx", "ls\n", 2, echoFound},
		{"nothing sent", "ls", "", 0, echoAbsent},
		{"only controls sent", "ls", "\r\n", 0, echoAbsent},
		{"partial", "l", "ls", 0, echoPending},
		{"partial across escape", "\x1b[32ml", "ls", 0, echoPending},
		{"different", "xy", "ls", 0, echoAbsent},
		{"after prompt redraw", "\r\x1b[K$ ls\r\n", "ls\n", 8, echoFound},
		{"wrap space may be real", "a b\r\n", "a b", 3, echoFound},
		{"trailing space at end of output", "ls ", "ls x", 0, echoPending},
		{"outside window", strings.Repeat(".", 70) + "ls", "ls", 0, echoAbsent},
		{"starts inside window", strings.Repeat(".", 67) + "ls", "ls", 69, echoFound},
		{"multibyte", "héllo", "héllo", 6, echoFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			end, state := findEcho([]byte(tt.raw), []byte(tt.sent))
			if end != tt.end || state != tt.state {
				t.Errorf("findEcho(%q, %q) = %d, %v; want %d, %v", tt.raw, tt.sent, end, state, tt.end, tt.state)
			}
		})
	}
}

func FuzzWaitNoPanic(f *testing.F) {
	f.Add([]byte("echo hi\r\nhi\r\n$ "), []byte("echo hi\n"), "hi", int64(0))
	f.Add([]byte("\x1b[31mx \ry\x08z"), []byte("x y"), "z", int64(3))
	f.Add([]byte("a\rb\r\n"), []byte(""), "", int64(-5))
	f.Fuzz(func(t *testing.T, out, sent []byte, pattern string, since int64) {
		b := New(64)
		b.Write(out)
		ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
		defer cancel()
		res, err := b.Wait(ctx, WaitSpec{Since: since, Match: Literal(pattern), Skip: sent})
		if err != nil {
			t.Fatal(err)
		}
		if res.Next < res.From || res.Next > b.End() || int64(len(res.Data)) != res.Next-res.From {
			t.Fatalf("inconsistent result %+v (end %d)", res, b.End())
		}
	})
}
