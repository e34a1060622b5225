package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

// versionCommand is agentsync version.
type versionCommand struct {
	noArguments
}

// Help is the command's description, for kong.
func (*versionCommand) Help() string {
	return "Prints the version, the commit it was built from and the Go version."
}

func (*versionCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "always", exitUsage: usageExit}
}

func (c *versionCommand) run(_ context.Context, a *app) int {
	if err := c.check(); err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(a.stdout, "agentsync %s (commit %s, %s, %s/%s)\n", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// buildCommit is the commit set at link time, else the one the Go toolchain
// recorded, else "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
