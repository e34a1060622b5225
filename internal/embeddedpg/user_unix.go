//go:build unix

package embeddedpg

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// unprivilegedUser is the user the server runs as when agentsync runs as
// root: PostgreSQL's initdb and postgres refuse root.
const unprivilegedUser = "nobody"

// runAs is the user the server's programs run as.
type runAs struct {
	name string
	// cred is nil when they run as the current user.
	cred *syscall.Credential
}

// unprivileged returns the current user, or unprivilegedUser as root.
func unprivileged() (runAs, error) {
	if os.Geteuid() != 0 {
		name := strconv.Itoa(os.Geteuid())
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		return runAs{name: name}, nil
	}
	u, err := user.Lookup(unprivilegedUser)
	if err != nil {
		return runAs{}, fmt.Errorf("PostgreSQL refuses to run as root, and user %s to run it as is missing: %w", unprivilegedUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return runAs{}, fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return runAs{}, fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	// No supplementary groups: root's would follow otherwise.
	return runAs{name: u.Username, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}, nil
}

// own hands path to the user.
func (r runAs) own(path string) error {
	if r.cred == nil {
		return nil
	}
	return os.Chown(path, int(r.cred.Uid), int(r.cred.Gid))
}

// apply makes cmd run as the user.
func (r runAs) apply(cmd *exec.Cmd) {
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
}
