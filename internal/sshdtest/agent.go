package sshdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartAgent starts a real `ssh-agent -D -a SOCKET` with its socket in a
// short temporary directory, adds the given unencrypted private keys with
// ssh-add, and returns the socket path. The agent is killed and its
// directory removed at tb.Cleanup.
func StartAgent(tb testing.TB, keyPaths ...string) string {
	tb.Helper()
	Require(tb)
	dir, err := tempDir(shortTempBase, "agent")
	if err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("sshdtest: remove agent dir: %v", err)
		}
	})
	sock := filepath.Join(dir, "agent.sock")
	logPath := filepath.Join(dir, "agent.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatalf("sshdtest: open agent log: %v", err)
	}
	defer logf.Close()

	env := agentEnv("")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("sshdtest: start ssh-agent: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			tb.Errorf("sshdtest: ssh-agent (pid %d) still runs %v after SIGKILL", cmd.Process.Pid, stopTimeout)
		}
	})

	if err := waitAgent(sock, exited); err != nil {
		log, _ := os.ReadFile(logPath)
		tb.Fatalf("sshdtest: %v\nssh-agent output:\n%s", err, log)
	}
	for _, k := range keyPaths {
		if err := run(agentEnv(sock), "", "ssh-add", k); err != nil {
			tb.Fatalf("sshdtest: add %s to ssh-agent: %v", k, err)
		}
	}
	return sock
}

// waitAgent polls until the agent accepts connections on sock, for at most
// 10 s, or until it exits.
func waitAgent(sock string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("ssh-agent exited before it listened")
		case <-ctx.Done():
			return fmt.Errorf("ssh-agent not listening on %s after %v: %w", sock, readyTimeout, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// agentEnv is the environment for ssh-agent and ssh-add: no display or
// askpass (so nothing ever prompts) and SSH_AUTH_SOCK set to sock, or unset
// when sock is empty.
func agentEnv(sock string) []string {
	var env []string
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		switch key {
		case "SSH_AUTH_SOCK", "SSH_AGENT_PID", "DISPLAY", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "SSH_ASKPASS_REQUIRE=never")
	if sock != "" {
		env = append(env, "SSH_AUTH_SOCK="+sock)
	}
	return env
}
