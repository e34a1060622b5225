package main

import (
	"context"
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"

	"github.com/agentsync/agentsync"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...":
// version is what git describe says of the v0.x.y tag the build is at or
// after (make build and the Dockerfile pass it); without one the version
// is the changelog's latest release.
var (
	version = ""
	commit  = ""
)

// versionCommand is agentsync version.
type versionCommand struct {
	noArguments
}

// Help is the command's description, for kong.
func (*versionCommand) Help() string {
	return "Prints the semantic version, the commit it was built from and the Go version. The version\n" +
		"is the v0.x.y tag the binary was built from (with the commits since it, when any, as\n" +
		"build metadata), else the latest release in CHANGELOG.md."
}

func (*versionCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "always", exitUsage: usageExit}
}

func (c *versionCommand) run(_ context.Context, a *app) int {
	if err := c.check(); err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(a.stdout, "agentsync %s (commit %s, %s, %s/%s)\n", semanticVersion(version, agentsync.Changelog), buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// describedTag matches what git describe --tags --dirty prints of a
// release tag: v0.3.1, v0.3.1-rc.1, then -4-gdeadbee when the build is 4
// commits after it, then -dirty when the tree had changes.
var describedTag = regexp.MustCompile(`^v(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)??)(?:-(\d+)-(g[0-9a-f]+))?(-dirty)?$`)

// semanticVersion is the version agentsync says it is: built, the
// description of a release tag, as a semantic version (the commits after
// the tag and a dirty tree become build metadata, which does not change
// the version's precedence); else, as for a build without a tag (go build,
// go install), the latest release of changelog.
func semanticVersion(built, changelog string) string {
	if m := describedTag.FindStringSubmatch(built); m != nil {
		v, meta := m[1], ""
		if m[2] != "" {
			meta = m[2] + "." + m[3]
		}
		if m[4] != "" {
			if meta != "" {
				meta += "."
			}
			meta += "dirty"
		}
		if meta != "" {
			v += "+" + meta
		}
		return v
	}
	if v := agentsync.LatestRelease(changelog); v != "" {
		return v
	}
	return "0.0.0"
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
