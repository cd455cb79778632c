package termbuf

import (
	"context"
	"regexp"
	"testing"
	"testing/synctest"
	"time"
)

// The wait starts before anything was echoed (the buffer is empty at the
// send's offset): the echo that arrives later is still skipped.
func TestWaitEchoArrivesLate(t *testing.T) {
	for _, m := range []struct {
		name string
		m    Matcher
	}{{"literal", Literal("hi")}, {"regex", Regexp(regexp.MustCompile(`h.`))}} {
		t.Run(m.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := New(0)
				b.Write([]byte("$ "))
				since := b.End()
				done := make(chan WaitResult, 1)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					r, _ := b.Wait(ctx, WaitSpec{Since: since, Match: m.m, Skip: []byte("echo hi")})
					done <- r
				}()
				time.Sleep(20 * time.Millisecond) // fake time: the waiter sees the empty region first
				b.Write([]byte("echo hi"))
				time.Sleep(20 * time.Millisecond)
				select {
				case r := <-done:
					t.Fatalf("matched inside the echo: %q", r.Data)
				default:
				}
				b.Write([]byte("\r\nhi\r\n$ "))
				r := <-done
				if !r.Matched || string(Clean(r.Data)) != "echo hi\nhi" {
					t.Errorf("got %+v (%q)", r, Clean(r.Data))
				}
			})
		})
	}
}
