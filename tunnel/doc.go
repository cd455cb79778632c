// Package tunnel runs SSH port forwards: local (-L), remote (-R) and dynamic
// SOCKS5 (-D).
//
// A forward does not own an SSH connection. It asks a [ClientFunc] for the
// session's current connection whenever it needs one: local and dynamic
// forwards call it once per accepted connection, so a reconnected session is
// picked up without any action; a remote forward listens on one connection
// and must be told to listen again after a reconnect ([Forward.Rebind]).
//
// Data is copied in both directions at once with pooled, bounded buffers, so
// memory stays flat however slow one side is (SSH channel windows and TCP
// buffers give the back-pressure). When one side finishes sending, the other
// side's write half is closed (half-close) and the opposite direction goes on
// until it ends too.
//
// The package does not import the session package: the holder adapts its
// connections to [Client] and maps this package's errors ([ErrPortInUse],
// [ErrForwardRefused], [ErrPrivilegedPort], [ErrInvalidSpec]) to the error
// codes of the contract.
package tunnel
