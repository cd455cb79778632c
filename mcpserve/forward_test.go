package mcpserve

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// echoServer listens on 127.0.0.1 and echoes every connection.
func echoServer(t *testing.T) (port int) {
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
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// roundTrip sends msg over c, half-closes, and returns what comes back.
func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// socks5Connect asks the SOCKS5 proxy at proxy to connect to 127.0.0.1:port.
func socks5Connect(t *testing.T, proxy string, port int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	reply := make([]byte, 10)
	c.Write([]byte{5, 1, 0}) // version 5, one method: no authentication
	if _, err := io.ReadFull(c, reply[:2]); err != nil || reply[0] != 5 || reply[1] != 0 {
		t.Fatalf("SOCKS5 greeting: % x %v", reply[:2], err)
	}
	req := []byte{5, 1, 0, 1, 127, 0, 0, 1, 0, 0} // CONNECT 127.0.0.1:port
	binary.BigEndian.PutUint16(req[8:], uint16(port))
	c.Write(req)
	if _, err := io.ReadFull(c, reply); err != nil || reply[1] != 0 {
		t.Fatalf("SOCKS5 connect: % x %v", reply, err)
	}
	c.SetDeadline(time.Time{})
	return c
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c
}

// The forwarding tools through the go-sdk client against the real sshd,
// with data through each kind of tunnel.
func TestForwardTools(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 90*time.Second)
	cs := client(t, f.s, nil)
	conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
	sid := conn.SessionID
	echo := echoServer(t)
	args := func(kv ...any) map[string]any {
		m := map[string]any{"session_id": sid}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}

	local, res := call[session.ForwardResult](t, ctx, cs, "ssh_forward_port", args("remote_port", echo))
	if local.Direction != "local" || local.SessionID != sid || local.ForwardID == "" ||
		!strings.HasPrefix(local.Listen, "127.0.0.1:") || strings.HasSuffix(local.Listen, ":0") || local.Target != fmt.Sprintf("127.0.0.1:%d", echo) {
		t.Fatalf("local forward %+v", local)
	}
	if !strings.Contains(resultText(res), local.ForwardID) {
		t.Errorf("text rendering %q", resultText(res))
	}
	const msg = "ping through the tunnel"
	t.Run("local", func(t *testing.T) {
		if got := roundTrip(t, dial(t, local.Listen), msg); got != msg {
			t.Errorf("echo through -L: %q", got)
		}
	})

	dyn, _ := call[session.ForwardResult](t, ctx, cs, "ssh_forward_port", args("direction", "dynamic"))
	t.Run("dynamic", func(t *testing.T) {
		if dyn.Direction != "dynamic" || dyn.Target != "socks5" {
			t.Errorf("dynamic forward %+v", dyn)
		}
		if got := roundTrip(t, socks5Connect(t, dyn.Listen, echo), msg); got != msg {
			t.Errorf("echo through SOCKS5: %q", got)
		}
	})

	remote, _ := call[session.ForwardResult](t, ctx, cs, "ssh_forward_port", args("direction", "remote", "local_port", echo))
	t.Run("remote", func(t *testing.T) {
		if remote.Direction != "remote" || strings.HasSuffix(remote.Listen, ":0") || remote.Target != fmt.Sprintf("127.0.0.1:%d", echo) {
			t.Fatalf("remote forward %+v", remote)
		}
		// The server listens on its loopback, which is ours too.
		if got := roundTrip(t, dial(t, remote.Listen), msg); got != msg {
			t.Errorf("echo through -R: %q", got)
		}
	})

	t.Run("list counters", func(t *testing.T) {
		var fw session.ForwardInfo
		waitFor(t, 10*time.Second, "the local forward's counters", func() bool {
			l, _ := call[session.ListForwardsResult](t, ctx, cs, "ssh_list_forwards", args())
			if len(l.Forwards) != 3 {
				t.Fatalf("forwards %+v", l.Forwards)
			}
			for _, x := range l.Forwards {
				if x.ForwardID == local.ForwardID {
					fw = x
				}
			}
			return fw.ActiveConns == 0 && fw.BytesIn == int64(len(msg))
		})
		if fw.TotalConns != 1 || fw.BytesOut != int64(len(msg)) || fw.State != "listening" || fw.Listen != local.Listen {
			t.Errorf("local forward info %+v", fw)
		}
		all, res := call[session.ListForwardsResult](t, ctx, cs, "ssh_list_forwards", nil)
		if len(all.Forwards) != 3 || !strings.Contains(resultText(res), remote.ForwardID) {
			t.Errorf("list without session_id %+v", all)
		}
		// Another client sees none of them and cannot close them.
		other := client(t, f.newServer(Options{}), nil)
		if l, _ := call[session.ListForwardsResult](t, ctx, other, "ssh_list_forwards", nil); len(l.Forwards) != 0 {
			t.Errorf("another client sees %+v", l.Forwards)
		}
		callErr(t, ctx, other, "ssh_close_forward", map[string]any{"forward_id": local.ForwardID}, session.CodeNotFound)
	})

	t.Run("close", func(t *testing.T) {
		for _, fw := range []session.ForwardResult{local, dyn, remote} {
			r, _ := call[session.CloseForwardResult](t, ctx, cs, "ssh_close_forward", map[string]any{"forward_id": fw.ForwardID})
			if !r.Closed || r.ForwardID != fw.ForwardID {
				t.Errorf("close %+v", r)
			}
			if !sshdtest.PortRefuses(fw.Listen) {
				t.Errorf("%s %s still accepts connections after close", fw.Direction, fw.Listen)
			}
		}
		callErr(t, ctx, cs, "ssh_close_forward", map[string]any{"forward_id": local.ForwardID}, session.CodeNotFound)
		if l, _ := call[session.ListForwardsResult](t, ctx, cs, "ssh_list_forwards", nil); len(l.Forwards) != 0 {
			t.Errorf("forwards left %+v", l.Forwards)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		callErr(t, ctx, cs, "ssh_forward_port", args(), session.CodeInvalidArgument) // local without remote_port
		callErr(t, ctx, cs, "ssh_forward_port", args("direction", "sideways", "remote_port", 1), session.CodeInvalidArgument)
		callErr(t, ctx, cs, "ssh_forward_port", args("remote_port", 70000), session.CodeInvalidArgument)
		busy, _ := net.Listen("tcp", "127.0.0.1:0")
		defer busy.Close()
		e := callErr(t, ctx, cs, "ssh_forward_port", args("local_port", busy.Addr().(*net.TCPAddr).Port, "remote_port", echo), session.CodePortInUse)
		if !strings.Contains(e.Message, fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)) {
			t.Errorf("port_in_use should name the port: %v", e)
		}
	})
}
