package session_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// echoServer listens on 127.0.0.1 and echoes each connection until its
// client half-closes. It returns the port.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// echoThrough sends msg over c, half-closes and returns what came back.
func echoThrough(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return string(b)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// socksConnect opens a SOCKS5 CONNECT to 127.0.0.1:port through the proxy at addr.
func socksConnect(t *testing.T, addr string, port int) net.Conn {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	var hello [2]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil || hello != [2]byte{5, 0} {
		t.Fatalf("socks greeting %v %v", hello, err)
	}
	req := []byte{5, 1, 0, 1, 127, 0, 0, 1, 0, 0}
	binary.BigEndian.PutUint16(req[8:], uint16(port))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 0 {
		t.Fatalf("socks reply %v %v", rep, err)
	}
	c.SetDeadline(time.Time{})
	return c
}

// refused reports whether nothing accepts on addr any more.
func refused(addr string) bool { return sshdtest.PortRefuses(addr) }

func forwardInfo(t *testing.T, ctx context.Context, ops session.Operations, id string) session.ForwardInfo {
	t.Helper()
	l, err := ops.ListForwards(ctx, session.ListForwardsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range l.Forwards {
		if fi.ForwardID == id {
			return fi
		}
	}
	t.Fatalf("forward %s not listed in %+v", id, l.Forwards)
	return session.ForwardInfo{}
}

func TestForwards(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 90*time.Second)
	id := f.connect(t, ctx).SessionID
	forwardContract(t, ctx, f.h, id)
}

// forwardContract checks local, dynamic and remote forwards, their counters and close on ops.
func forwardContract(t *testing.T, ctx context.Context, ops session.Operations, id string) {
	echo := echoServer(t)
	t.Run("local", func(t *testing.T) {
		r, err := ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, RemotePort: echo})
		if err != nil {
			t.Fatal(err)
		}
		if r.Direction != "local" || r.SessionID != id || !strings.HasPrefix(r.Listen, "127.0.0.1:") || r.Target != "127.0.0.1:"+strconv.Itoa(echo) || len(r.ForwardID) != 8 {
			t.Errorf("forward %+v", r)
		}
		for i, msg := range []string{"hello through -L", strings.Repeat("x", 100000)} {
			if got := echoThrough(t, dial(t, r.Listen), msg); got != msg {
				t.Fatalf("conn %d: echoed %d bytes, want %d", i, len(got), len(msg))
			}
		}
		var fi session.ForwardInfo
		waitFor(t, 5*time.Second, "connections finish", func() bool {
			fi = forwardInfo(t, ctx, ops, r.ForwardID)
			return fi.ActiveConns == 0
		})
		if fi.TotalConns != 2 || fi.BytesOut != 100016 || fi.BytesIn != 100016 || fi.State != "listening" || fi.Listen != r.Listen {
			t.Errorf("counters %+v", fi)
		}
		c, err := ops.CloseForward(ctx, session.CloseForwardRequest{ForwardID: r.ForwardID})
		if err != nil || !c.Closed || c.ForwardID != r.ForwardID {
			t.Fatalf("close %+v %v", c, err)
		}
		if !refused(r.Listen) {
			t.Error("the port still accepts after close")
		}
		_, err = ops.CloseForward(ctx, session.CloseForwardRequest{ForwardID: r.ForwardID})
		wantCode(t, err, session.CodeNotFound)
	})
	t.Run("dynamic", func(t *testing.T) {
		r, err := ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, Direction: "dynamic"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Direction != "dynamic" || !strings.HasPrefix(r.Listen, "127.0.0.1:") {
			t.Errorf("forward %+v", r)
		}
		if got := echoThrough(t, socksConnect(t, r.Listen, echo), "via socks"); got != "via socks" {
			t.Errorf("echoed %q", got)
		}
		waitFor(t, 5*time.Second, "connection finishes", func() bool { return forwardInfo(t, ctx, ops, r.ForwardID).ActiveConns == 0 })
		if fi := forwardInfo(t, ctx, ops, r.ForwardID); fi.TotalConns != 1 || fi.BytesOut != 9 || fi.BytesIn != 9 {
			t.Errorf("counters %+v", fi)
		}
		if _, err := ops.CloseForward(ctx, session.CloseForwardRequest{ForwardID: r.ForwardID}); err != nil {
			t.Fatal(err)
		}
		if !refused(r.Listen) {
			t.Error("the port still accepts after close")
		}
	})
	t.Run("remote", func(t *testing.T) {
		r, err := ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, Direction: "remote", LocalPort: echo})
		if err != nil {
			t.Fatal(err)
		}
		if r.Direction != "remote" || strings.HasSuffix(r.Listen, ":0") || r.Target != "127.0.0.1:"+strconv.Itoa(echo) {
			t.Errorf("forward %+v", r)
		}
		// The server listens on the same machine here.
		if got := echoThrough(t, dial(t, r.Listen), "hello through -R"); got != "hello through -R" {
			t.Errorf("echoed %q", got)
		}
		waitFor(t, 5*time.Second, "connection finishes", func() bool { return forwardInfo(t, ctx, ops, r.ForwardID).ActiveConns == 0 })
		if fi := forwardInfo(t, ctx, ops, r.ForwardID); fi.TotalConns != 1 || fi.BytesOut != 16 || fi.BytesIn != 16 {
			t.Errorf("counters %+v", fi)
		}
		if _, err := ops.CloseForward(ctx, session.CloseForwardRequest{ForwardID: r.ForwardID}); err != nil {
			t.Fatal(err)
		}
		if !refused(r.Listen) {
			t.Error("the server port still accepts after close")
		}
	})
	t.Run("bad input", func(t *testing.T) {
		_, err := ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: id})
		wantCode(t, err, session.CodeInvalidArgument)
		_, err = ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, Direction: "sideways", RemotePort: 1})
		wantCode(t, err, session.CodeInvalidArgument)
		_, err = ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, RemotePort: 70000})
		wantCode(t, err, session.CodeInvalidArgument)
		_, err = ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: "deadbeef", RemotePort: echo})
		wantCode(t, err, session.CodeNotFound)
		_, err = ops.CloseForward(ctx, session.CloseForwardRequest{ForwardID: "00000000"})
		wantCode(t, err, session.CodeNotFound)

		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		port := busy.Addr().(*net.TCPAddr).Port
		_, err = ops.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, LocalPort: port, RemotePort: echo})
		e := wantCode(t, err, session.CodePortInUse)
		if !strings.Contains(e.Message, strconv.Itoa(port)) {
			t.Errorf("message should name the port: %v", e)
		}
	})
}

func TestForwardOwnersAndSessionClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	agent := session.WithCaller(ctx, session.Caller{Owner: "mcp-agent"})
	other := session.WithCaller(ctx, session.Caller{Owner: "mcp-other"})
	c, err := f.h.Connect(agent, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath})
	if err != nil {
		t.Fatal(err)
	}
	echo := echoServer(t)
	local, err := f.h.ForwardOpen(agent, session.ForwardRequest{SessionID: c.SessionID, RemotePort: echo})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := f.h.ForwardOpen(agent, session.ForwardRequest{SessionID: c.SessionID, Direction: "remote", LocalPort: echo})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.h.CloseForward(other, session.CloseForwardRequest{ForwardID: local.ForwardID})
	wantCode(t, err, session.CodeNotFound)
	if l, err := f.h.ListForwards(other, session.ListForwardsRequest{}); err != nil || len(l.Forwards) != 0 {
		t.Errorf("another owner sees %+v %v", l.Forwards, err)
	}
	_, err = f.h.ListForwards(other, session.ListForwardsRequest{SessionID: c.SessionID})
	wantCode(t, err, session.CodeNotFound)
	if l, err := f.h.ListForwards(agent, session.ListForwardsRequest{SessionID: c.SessionID}); err != nil || len(l.Forwards) != 2 {
		t.Errorf("owner sees %+v %v", l.Forwards, err)
	}
	if echoThrough(t, dial(t, local.Listen), "still mine") != "still mine" {
		t.Error("forward broken by another owner's close")
	}
	r, err := f.h.CloseSession(agent, session.CloseSessionRequest{SessionID: c.SessionID})
	if err != nil || r.ForwardsClosed != 2 {
		t.Fatalf("close session %+v %v", r, err)
	}
	if !refused(local.Listen) {
		t.Error("local forward still accepts after its session closed")
	}
	waitFor(t, 5*time.Second, "remote forward's port refuses", func() bool { return refused(remote.Listen) })
	if l, err := f.h.ListForwards(agent, session.ListForwardsRequest{}); err != nil || len(l.Forwards) != 0 {
		t.Errorf("forwards after session close %+v %v", l.Forwards, err)
	}
}

func TestForwardRemoteRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{config: []string{"AllowTcpForwarding no"}})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	_, err := f.h.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, Direction: "remote", LocalPort: echoServer(t)})
	e := wantCode(t, err, session.CodeForwardRefused)
	if e.Hint == "" {
		t.Errorf("no hint: %v", e)
	}
	if l, _ := f.h.ListForwards(ctx, session.ListForwardsRequest{}); len(l.Forwards) != 0 {
		t.Errorf("a refused forward is listed: %+v", l.Forwards)
	}
}

func TestForwardRemoteRebindAfterReconnect(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 90*time.Second)
	id := f.connect(t, ctx).SessionID
	echo := echoServer(t)
	r, err := f.h.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, Direction: "remote", LocalPort: echo})
	if err != nil {
		t.Fatal(err)
	}
	if echoThrough(t, dial(t, r.Listen), "before") != "before" {
		t.Fatal("remote forward does not work")
	}
	f.srv.KillConnections()
	waitFor(t, 10*time.Second, "session notices the loss", func() bool {
		l, _ := f.h.ListSessions(ctx, session.ListSessionsRequest{})
		return len(l.Sessions) == 1 && l.Sessions[0].State != session.StateConnected
	})
	// An operation reconnects the session; the remote forward is re-established.
	if res, err := f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "echo back"}); err != nil || res.Stdout != "back\n" {
		t.Fatalf("exec after loss: %+v %v", res, err)
	}
	waitFor(t, 20*time.Second, "forward listens again", func() bool {
		return forwardInfo(t, ctx, f.h, r.ForwardID).State == "listening"
	})
	var got string
	waitFor(t, 10*time.Second, "data through the rebound forward", func() bool {
		c, err := net.DialTimeout("tcp", r.Listen, time.Second)
		if err != nil {
			return false
		}
		got = echoThrough(t, c, "after")
		return got == "after"
	})
	if fi := forwardInfo(t, ctx, f.h, r.ForwardID); fi.TotalConns < 2 {
		t.Errorf("counters after rebind %+v", fi)
	}
}
