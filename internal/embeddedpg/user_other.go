//go:build !unix

package embeddedpg

import "os/exec"

// runAs is the user the server's programs run as: off Unix, the current
// one (initdb and pg_ctl drop administrator rights on Windows themselves).
type runAs struct{ name string }

func unprivileged() (runAs, error) { return runAs{name: "the current user"}, nil }
func (runAs) own(string) error     { return nil }
func (runAs) apply(*exec.Cmd)      {}
