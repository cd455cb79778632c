// Package sshdtest starts a real OpenSSH sshd on loopback for tests, together
// with the throwaway accounts, keys, agents and client environments those
// tests need.
//
// Everything it creates is private to one test and removed by tb.Cleanup:
// each [Server] has its own directory, host keys, configuration, log and
// port on 127.0.0.1; each [User] is a fresh local unix account with its own
// keys and password; each [Env] points HOME, the XDG directories and
// MCP_REMOTE_SSH_SOCKET at fresh temporary directories, so a test running as
// root never touches root's own ~/.ssh. Authorized keys live in the server's
// directory (AuthorizedKeysFile), never in a home directory.
//
// The helpers need root (useradd, sshd privilege separation) and
// /usr/sbin/sshd. [Require] skips a test when they are missing, or fails it
// when the environment variable CI is "true".
//
// A typical test:
//
//	u := sshdtest.NewUser(t)
//	srv := sshdtest.Start(t, sshdtest.WithUsers(u))
//	env := sshdtest.NewEnv(t)
//	srv.WriteKnownHosts(t, filepath.Join(env.Home, ".ssh", "known_hosts"))
//	// dial srv.Addr as u.Name with u.KeyPath or u.Password
package sshdtest
