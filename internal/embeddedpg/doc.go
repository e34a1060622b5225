// Package embeddedpg starts a throw-away PostgreSQL server from the server
// binaries installed on the machine, for the demo: in a new temporary
// directory, on a free loopback port, with a random password, gone with
// every file it wrote once stopped.
//
// PostgreSQL refuses to run as root. As root, the server's processes run
// as the unprivileged user nobody, as the PostgreSQL container images run
// them as their own postgres user, so that the demo works on a fresh
// container or CI machine with nothing but Go and the server package.
package embeddedpg
