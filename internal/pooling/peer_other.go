//go:build !linux

package pooling

import "net"

// socketServesBackend is false where the peer of a Unix socket cannot be
// read as on Linux: the connection is not known to be direct.
func socketServesBackend(*net.UnixConn, int) bool { return false }
