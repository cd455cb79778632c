package session

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// hostConfig is what ~/.ssh/config (then /etc/ssh/ssh_config) says about one alias.
type hostConfig struct {
	Alias               string
	HostName            string
	User                string
	Port                int
	IdentityFiles       []string // explicitly configured IdentityFile entries
	IdentitiesOnly      bool
	ProxyJump           []string
	ConnectTimeout      time.Duration
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	UserKnownHosts      []string
	GlobalKnownHosts    []string
}

// sshConfig is the parsed user and system ssh_config files.
type sshConfig struct {
	home  string
	files []*ssh_config.Config
}

// loadSSHConfig parses ~/.ssh/config and /etc/ssh/ssh_config. A user config
// writable by group or others is refused, as ssh refuses it.
func loadSSHConfig(home string) (*sshConfig, error) {
	c := &sshConfig{home: home}
	for i, path := range []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"} {
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		if i == 0 && st.Mode().Perm()&0o022 != 0 {
			return nil, Errf(CodePermissionDenied, "run: chmod go-w "+path,
				"bad permissions on %s (%#o): ssh refuses a config that others can write", path, st.Mode().Perm())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, Wrap(CodePermissionDenied, err, "check the file's permissions", "read ssh config %s", path)
		}
		cfg, err := ssh_config.DecodeBytes(data)
		if err != nil {
			if i == 0 {
				return nil, Wrap(CodeInvalidArgument, err, "fix the line it names", "parse ssh config %s", path)
			}
			continue // a broken system file should not stop us
		}
		c.files = append(c.files, cfg)
	}
	return c, nil
}

func (c *sshConfig) get(alias, key string) string {
	for _, f := range c.files {
		v, err := f.Get(alias, key)
		if err == nil && v != "" {
			return v
		}
	}
	return ""
}

func (c *sshConfig) getAll(alias, key string) []string {
	var out []string
	for _, f := range c.files {
		v, err := f.GetAll(alias, key)
		if err == nil {
			out = append(out, v...)
		}
	}
	return out
}

// lookup resolves alias the way ssh does: first value wins, files in order.
func (c *sshConfig) lookup(alias string) (hostConfig, error) {
	hc := hostConfig{Alias: alias, HostName: alias}
	if v := c.get(alias, "HostName"); v != "" {
		hc.HostName = strings.ReplaceAll(v, "%h", alias)
	}
	hc.User = c.get(alias, "User")
	if v := c.get(alias, "Port"); v != "" {
		p, err := parsePort(v)
		if err != nil {
			return hc, Errf(CodeInvalidArgument, "fix Port in ~/.ssh/config", "ssh config for %s: %v", alias, err)
		}
		hc.Port = p
	}
	for _, f := range c.getAll(alias, "IdentityFile") {
		hc.IdentityFiles = append(hc.IdentityFiles, f)
	}
	hc.IdentitiesOnly = strings.EqualFold(c.get(alias, "IdentitiesOnly"), "yes")
	if v := c.get(alias, "ProxyJump"); v != "" && !strings.EqualFold(v, "none") {
		for _, hop := range strings.Split(v, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hc.ProxyJump = append(hc.ProxyJump, hop)
			}
		}
	}
	if v := c.get(alias, "ConnectTimeout"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			hc.ConnectTimeout = time.Duration(n) * time.Second
		}
	}
	if v := c.get(alias, "ServerAliveInterval"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			hc.ServerAliveInterval = time.Duration(n) * time.Second
		}
	}
	if v := c.get(alias, "ServerAliveCountMax"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			hc.ServerAliveCountMax = n
		}
	}
	for _, v := range c.getAll(alias, "UserKnownHostsFile") {
		hc.UserKnownHosts = append(hc.UserKnownHosts, strings.Fields(v)...)
	}
	for _, v := range c.getAll(alias, "GlobalKnownHostsFile") {
		hc.GlobalKnownHosts = append(hc.GlobalKnownHosts, strings.Fields(v)...)
	}
	return hc, nil
}

// expandPath expands ~ and the ssh_config tokens %d %h %r %u %p %%.
func expandPath(p, home, host, remoteUser string, port int) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		p = filepath.Join(home, p[2:])
	}
	if !strings.Contains(p, "%") {
		return p
	}
	local := ""
	if u, err := user.Current(); err == nil {
		local = u.Username
	}
	var b bytes.Buffer
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case 'd':
			b.WriteString(home)
		case 'h':
			b.WriteString(host)
		case 'r':
			b.WriteString(remoteUser)
		case 'u':
			b.WriteString(local)
		case 'p':
			fmt.Fprint(&b, port)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
