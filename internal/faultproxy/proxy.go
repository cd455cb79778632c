package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chunkSize is the largest read forwarded as one piece; queueLen pieces may
// wait per direction (so at most chunkSize*queueLen bytes are in flight).
const (
	chunkSize = 32 << 10
	queueLen  = 256
)

// dialTimeout bounds the proxy's connect to the target.
const dialTimeout = 10 * time.Second

// Proxy forwards connections accepted on Addr to a target address.
type Proxy struct {
	// Addr is the listening address, 127.0.0.1:PORT.
	Addr string
	// Port is the listening port.
	Port int

	target string
	ln     net.Listener

	upDelay, downDelay atomic.Int64 // nanoseconds
	rate               atomic.Int64 // bytes per second per direction, 0 = unlimited

	mu     sync.Mutex
	conns  map[*pair]struct{}
	all    []*pair       // every connection ever accepted, in order
	resume chan struct{} // closed while not stalled
	closed bool

	accepted atomic.Int64
	wg       sync.WaitGroup
}

// New listens on 127.0.0.1 (a free port) and forwards to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	open := make(chan struct{})
	close(open)
	p := &Proxy{target: target, ln: ln, conns: map[*pair]struct{}{}, resume: open,
		Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Start is New for tests: it fails tb on error and closes the proxy at cleanup.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := New(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// Host returns the listening host, "127.0.0.1".
func (p *Proxy) Host() string {
	h, _, _ := net.SplitHostPort(p.Addr)
	return h
}

// PortString returns the listening port as text.
func (p *Proxy) PortString() string { return strconv.Itoa(p.Port) }

// SetDelay adds latency: up to bytes going to the target, down to bytes
// coming back. It applies to data read from then on, on every connection.
func (p *Proxy) SetDelay(up, down time.Duration) {
	p.upDelay.Store(int64(up))
	p.downDelay.Store(int64(down))
}

// SetRate throttles each direction of each connection to bytesPerSecond
// (0 removes the limit).
func (p *Proxy) SetRate(bytesPerSecond int64) { p.rate.Store(bytesPerSecond) }

// Stall stops forwarding in both directions on every connection, without
// closing anything: the peers see a link that went silent. Connections
// accepted while stalled are held too. Resume delivers what was held back.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resume:
		p.resume = make(chan struct{})
	default: // already stalled
	}
}

// Resume ends a stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resume:
	default:
		close(p.resume)
	}
}

func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resume
}

// Cut closes every current connection on both sides (FIN).
func (p *Proxy) Cut() { p.closeAll(false) }

// Reset aborts every current connection on both sides (RST).
func (p *Proxy) Reset() { p.closeAll(true) }

func (p *Proxy) closeAll(rst bool) {
	p.mu.Lock()
	ps := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		ps = append(ps, c)
	}
	p.mu.Unlock()
	for _, c := range ps {
		c.close(rst)
	}
}

// Accepted returns how many connections the proxy accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// ConnStat describes one proxied connection.
type ConnStat struct {
	// Accepted is when the proxy accepted it.
	Accepted time.Time
	// Up and Down count the bytes forwarded to and from the target.
	Up, Down int64
	// Open is true until the proxy has closed both sides.
	Open bool
}

// Conns describes every connection accepted so far, in order.
func (p *Proxy) Conns() []ConnStat {
	p.mu.Lock()
	all := append([]*pair(nil), p.all...)
	p.mu.Unlock()
	out := make([]ConnStat, len(all))
	for i, c := range all {
		out[i] = ConnStat{Accepted: c.accepted, Up: c.up.Load(), Down: c.down.Load()}
		select {
		case <-c.done:
		default:
			out[i].Open = true
		}
	}
	return out
}

// Active returns how many connections are open.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.closeAll(false)
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		p.accepted.Add(1)
		pc := &pair{p: p, client: c, done: make(chan struct{}), accepted: time.Now()}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.all = append(p.all, pc)
		p.conns[pc] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go pc.run()
	}
}

// pair is one proxied connection.
type pair struct {
	p        *Proxy
	accepted time.Time
	up, down atomic.Int64 // bytes forwarded each way
	client   net.Conn
	mu       sync.Mutex
	upstream net.Conn
	once     sync.Once
	done     chan struct{}
}

func (c *pair) run() {
	defer c.p.wg.Done()
	defer func() {
		c.close(false)
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	}()
	// A stalled proxy holds new connections before dialing, like a link
	// that drops the first packets.
	select {
	case <-c.p.gate():
	case <-c.done:
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	u, err := d.Dial("tcp", c.p.target)
	if err != nil {
		return
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		u.Close()
		return
	default:
	}
	c.upstream = u
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pipe(c.client, u, &c.p.upDelay, &c.up) }()
	go func() { defer wg.Done(); c.pipe(u, c.client, &c.p.downDelay, &c.down) }()
	wg.Wait()
}

// close ends both sides once; rst aborts them with a TCP reset.
func (c *pair) close(rst bool) {
	c.once.Do(func() {
		c.mu.Lock()
		u := c.upstream
		close(c.done)
		c.mu.Unlock()
		for _, conn := range []net.Conn{c.client, u} {
			if conn == nil {
				continue
			}
			if tc, ok := conn.(*net.TCPConn); ok && rst {
				tc.SetLinger(0)
			}
			conn.Close()
		}
	})
}

type chunk struct {
	data []byte
	due  time.Time
	eof  bool
}

// pipe copies src to dst through a queue that adds the direction's delay,
// holds data while stalled and keeps the rate. A read end half-closes dst;
// a write error ends the pair.
func (c *pair) pipe(src, dst net.Conn, delay, count *atomic.Int64) {
	q := make(chan chunk, queueLen)
	readerDone := make(chan struct{})
	// The reader ends once both conns are closed (every return below
	// either closes them or follows the reader's own end).
	defer func() { <-readerDone }()
	go func() {
		defer close(readerDone)
		defer close(q)
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case q <- chunk{data: buf[:n], due: time.Now().Add(time.Duration(delay.Load()))}:
				case <-c.done:
					return
				}
			}
			if err != nil {
				select {
				case q <- chunk{eof: true, due: time.Now().Add(time.Duration(delay.Load()))}:
				case <-c.done:
				}
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ch := range q {
		if wait := time.Until(ch.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-c.done:
				return
			}
		}
		select {
		case <-c.p.gate():
		case <-c.done:
			return
		}
		if ch.eof {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
				continue // the other direction may still run
			}
			c.close(false)
			return
		}
		if r := c.p.rate.Load(); r > 0 {
			timer.Reset(time.Duration(int64(len(ch.data)) * int64(time.Second) / r))
			select {
			case <-timer.C:
			case <-c.done:
				return
			}
		}
		n, err := dst.Write(ch.data)
		count.Add(int64(n))
		if err != nil {
			c.close(false)
			return
		}
	}
}
