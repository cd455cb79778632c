package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultIdentities are tried, in ssh's order, when nothing names a key.
var defaultIdentities = []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk"}

// authState gathers the auth methods for one connection and remembers which
// one succeeded and why a key could not be used.
type authState struct {
	ctx      context.Context
	caller   Caller
	password Secret
	// keyErr is a key problem (wrong passphrase, bad permissions) worth reporting
	// instead of the server's generic refusal.
	mu     sync.Mutex
	keyErr error
	method string
}

func (a *authState) setKeyErr(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.keyErr == nil {
		a.keyErr = err
	}
}

// credentials are what a session keeps (in the holder's memory only) so that
// a dropped connection can be re-established without asking again.
type credentials struct {
	signers     []ssh.Signer // file signers, decrypted once
	agentSocket string
	useAgent    bool
	password    Secret
}

// loadSigners reads identity files. Keys readable by others are refused, as
// ssh refuses them. An explicitly named key that is missing is an error; a
// missing default key is skipped. Encrypted keys become lazy signers that ask
// for the passphrase only when the server accepts the public key.
func loadSigners(a *authState, paths []string, explicit bool, passphrase Secret) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			if explicit {
				return nil, Wrap(CodeInvalidArgument, err, "check the path given as key_path / IdentityFile", "key file %s", p)
			}
			continue
		}
		if st.IsDir() {
			return nil, Errf(CodeInvalidArgument, "name a private key file", "key file %s is a directory", p)
		}
		if st.Mode().Perm()&0o077 != 0 {
			err := Errf(CodePermissionDenied, "run: chmod 600 "+p,
				"UNPROTECTED PRIVATE KEY FILE %s: permissions %#o are too open; ssh refuses keys that others can read", p, st.Mode().Perm())
			if explicit {
				return nil, err
			}
			a.setKeyErr(err)
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, Wrap(CodePermissionDenied, err, "check the file's permissions", "read key file %s", p)
		}
		s, err := ssh.ParsePrivateKey(data)
		if err == nil {
			out = append(out, s)
			continue
		}
		var missing *ssh.PassphraseMissingError
		if !errors.As(err, &missing) {
			if explicit {
				return nil, Wrap(CodeInvalidArgument, err, "name an OpenSSH, PEM or PKCS#8 private key", "parse key file %s", p)
			}
			continue
		}
		pub := missing.PublicKey
		if pub == nil {
			if pd, err := os.ReadFile(p + ".pub"); err == nil {
				pub, _, _, _, _ = ssh.ParseAuthorizedKey(pd)
			}
		}
		if passphrase != "" {
			s, err := ssh.ParsePrivateKeyWithPassphrase(data, []byte(passphrase.Reveal()))
			if err != nil {
				return nil, Wrap(CodeAuthFailed, err, "check the passphrase", "decrypt key file %s", p)
			}
			out = append(out, s)
			continue
		}
		if pub == nil {
			if explicit {
				return nil, Errf(CodeInputRequired, "pass --passphrase-stdin (CLI) or passphrase (MCP)", "key file %s is encrypted and its public key is unknown", p)
			}
			continue
		}
		out = append(out, &lazySigner{a: a, path: p, data: data, pub: pub})
	}
	return out, nil
}

// lazySigner is an encrypted key whose passphrase is asked for at first use.
type lazySigner struct {
	a    *authState
	path string
	data []byte
	pub  ssh.PublicKey
	once sync.Once
	s    ssh.Signer
	err  error
}

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.pub }

func (l *lazySigner) load() (ssh.Signer, error) {
	l.once.Do(func() {
		pass, err := l.a.caller.prompt(l.a.ctx, Prompt{Kind: PromptPassphrase, Message: fmt.Sprintf("Enter passphrase for key %s:", l.path)},
			"--passphrase-stdin or MCP_REMOTE_SSH_PASSPHRASE (CLI), or passphrase (MCP)")
		if err != nil {
			l.err = err
			l.a.setKeyErr(err)
			return
		}
		l.s, l.err = ssh.ParsePrivateKeyWithPassphrase(l.data, []byte(pass))
		if l.err != nil {
			l.err = Wrap(CodeAuthFailed, l.err, "check the passphrase", "decrypt key file %s", l.path)
			l.a.setKeyErr(l.err)
		}
	})
	return l.s, l.err
}

func (l *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	s, err := l.load()
	if err != nil {
		return nil, err
	}
	return s.Sign(rand, data)
}

func (l *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s, err := l.load()
	if err != nil {
		return nil, err
	}
	if as, ok := s.(ssh.AlgorithmSigner); ok {
		return as.SignWithAlgorithm(rand, data, algorithm)
	}
	return s.Sign(rand, data)
}

func (l *lazySigner) Algorithms() []string {
	if l.pub.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{l.pub.Type()}
}

// identityPaths returns the key files to try and whether they were named explicitly.
func identityPaths(keyPath string, hc hostConfig, home, user string, port int) ([]string, bool) {
	if keyPath != "" {
		return []string{expandPath(keyPath, home, hc.HostName, user, port)}, true
	}
	if len(hc.IdentityFiles) > 0 {
		var out []string
		for _, f := range hc.IdentityFiles {
			out = append(out, expandPath(f, home, hc.HostName, user, port))
		}
		return out, false
	}
	var out []string
	for _, n := range defaultIdentities {
		out = append(out, filepath.Join(home, ".ssh", n))
	}
	return out, false
}

// methods builds the auth methods in the order ssh tries them: public keys
// (agent first, then files), password, keyboard-interactive. Each runs once.
func (a *authState) methods(cred *credentials, identitiesOnly bool) ([]ssh.AuthMethod, func()) {
	var agentConn net.Conn
	var ms []ssh.AuthMethod
	ms = append(ms, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		var signers []ssh.Signer
		if cred.useAgent && cred.agentSocket != "" {
			c, err := net.Dial("unix", cred.agentSocket)
			if err == nil {
				agentConn = c
				as, err := agent.NewClient(c).Signers()
				if err == nil {
					if identitiesOnly && len(cred.signers) > 0 {
						as = onlyMatching(as, cred.signers)
					}
					for _, s := range as {
						signers = append(signers, tagSigner(s, a, "agent"))
					}
				}
			}
		}
		for _, s := range cred.signers {
			signers = append(signers, tagSigner(s, a, "publickey"))
		}
		return signers, nil
	}))
	if cred.password == "" && a.caller.Prompter == nil {
		// Nobody can give a password: don't offer methods that need one.
		return ms, func() {
			if agentConn != nil {
				agentConn.Close()
			}
		}
	}
	ask := func(kind string) (string, error) {
		if cred.password != "" {
			return cred.password.Reveal(), nil
		}
		p, err := a.caller.prompt(a.ctx, Prompt{Kind: kind, Message: "Password:"},
			"--password-stdin or MCP_REMOTE_SSH_PASSWORD (CLI), or password (MCP)")
		if err != nil {
			a.setKeyErr(err)
			return "", err
		}
		cred.password = Secret(p)
		return p, nil
	}
	ms = append(ms, ssh.PasswordCallback(func() (string, error) {
		p, err := ask(PromptPassword)
		if err == nil {
			a.method = "password"
		}
		return p, err
	}))
	ms = append(ms, ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i := range questions {
			if echos[i] {
				return nil, Errf(CodeAuthFailed, "use key or password auth", "keyboard-interactive asks %q, which cannot be answered unattended", questions[i])
			}
			p, err := ask(PromptPassword)
			if err != nil {
				return nil, err
			}
			answers[i] = p
		}
		a.method = "keyboard-interactive"
		return answers, nil
	}))
	return ms, func() {
		if agentConn != nil {
			agentConn.Close()
		}
	}
}

func onlyMatching(agentSigners, files []ssh.Signer) []ssh.Signer {
	var out []ssh.Signer
	for _, s := range agentSigners {
		for _, f := range files {
			if string(s.PublicKey().Marshal()) == string(f.PublicKey().Marshal()) {
				out = append(out, s)
			}
		}
	}
	return out
}

// methodSigner records which kind of key signed, so the result can say
// whether the agent or a key file authenticated.
type methodSigner struct {
	ssh.Signer
	a    *authState
	kind string
}

func tagSigner(s ssh.Signer, a *authState, kind string) ssh.Signer {
	if ms, ok := s.(ssh.MultiAlgorithmSigner); ok {
		return &multiTagSigner{MultiAlgorithmSigner: ms, a: a, kind: kind}
	}
	if as, ok := s.(ssh.AlgorithmSigner); ok {
		return &algTagSigner{AlgorithmSigner: as, a: a, kind: kind}
	}
	return &methodSigner{Signer: s, a: a, kind: kind}
}

func (m *methodSigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	sig, err := m.Signer.Sign(rand, data)
	if err == nil {
		m.a.method = m.kind
	}
	return sig, err
}

type algTagSigner struct {
	ssh.AlgorithmSigner
	a    *authState
	kind string
}

func (m *algTagSigner) SignWithAlgorithm(rand io.Reader, data []byte, alg string) (*ssh.Signature, error) {
	sig, err := m.AlgorithmSigner.SignWithAlgorithm(rand, data, alg)
	if err == nil {
		m.a.method = m.kind
	}
	return sig, err
}

type multiTagSigner struct {
	ssh.MultiAlgorithmSigner
	a    *authState
	kind string
}

func (m *multiTagSigner) SignWithAlgorithm(rand io.Reader, data []byte, alg string) (*ssh.Signature, error) {
	sig, err := m.MultiAlgorithmSigner.SignWithAlgorithm(rand, data, alg)
	if err == nil {
		m.a.method = m.kind
	}
	return sig, err
}
