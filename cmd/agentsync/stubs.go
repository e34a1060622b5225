package main

import (
	"context"
	"fmt"
)

// notImplemented answers for a command whose capability has not landed.
func notImplemented(name string) func(context.Context, *app, []string) int {
	return func(_ context.Context, a *app, args []string) int {
		fs := a.newFlagSet(name, "", "Not implemented yet.")
		if code, done := fs.parseOrExit(args); done {
			return code
		}
		fmt.Fprintf(a.stderr, "agentsync %s: not implemented yet\n", name)
		return exitUsage
	}
}

var (
	runSync = notImplemented("sync")
)
