package mcpserve

import (
	"crypto/subtle"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTP paths of the transports.
const (
	PathStreamable = "/mcp"
	PathSSE        = "/sse"
)

// HTTPOptions configure the HTTP transports.
type HTTPOptions struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every request (never accepted from a query string).
	Token string
	// SessionTimeout closes streamable-HTTP client sessions idle this long
	// (and with them their SSH sessions); 0 means 1 hour.
	SessionTimeout time.Duration
}

// HTTPHandler serves streamable HTTP on /mcp and SSE on /sse. The go-sdk
// handlers refuse a non-loopback Host on a loopback connection (DNS
// rebinding); this handler adds the Origin check, the bearer token and the
// JSON content type.
func (s *Server) HTTPHandler(o HTTPOptions) http.Handler {
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = time.Hour
	}
	get := func(*http.Request) *mcp.Server { return s.srv }
	mux := http.NewServeMux()
	mux.Handle(PathStreamable, mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		Logger:         slog.New(s.logger),
		SessionTimeout: o.SessionTimeout,
	}))
	mux.Handle(PathSSE, mcp.NewSSEHandler(get, nil))
	return guard(o.Token, mux)
}

// guard checks Origin (403), the bearer token (401) and, on POST, the JSON
// content type (415), before the MCP handlers run.
func guard(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o, ok := r.Header["Origin"]; ok && (len(o) != 1 || !localOrigin(o[0])) {
			http.Error(w, "Forbidden: cross-origin requests are not accepted", http.StatusForbidden)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcp-remote-ssh"`)
			http.Error(w, "Unauthorized: pass Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				http.Error(w, "Unsupported Media Type: POST application/json", http.StatusUnsupportedMediaType)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// localOrigin reports whether origin is http(s) on localhost, 127.0.0.1 or
// [::1] (any port).
func localOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// IsLoopbackHost reports whether host (a --host value) only listens on
// loopback: localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
