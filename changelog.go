// Package agentsync holds what the module ships beside its code: the
// changelog, embedded so that a binary built without a version tag still
// knows which release it is. The program is cmd/agentsync; extract, load,
// schedule and migrations do its work.
package agentsync

import (
	_ "embed"
	"regexp"
)

// Changelog is CHANGELOG.md, in the Keep a Changelog format.
//
//go:embed CHANGELOG.md
var Changelog string

// releaseHeading matches the heading of a released entry of a changelog:
// "## [0.1.0] - 2026-12-06".
var releaseHeading = regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\] - \d{4}-\d{2}-\d{2}\s*$`)

// LatestRelease returns the version of the first released entry of
// changelog (entries are newest first; Unreleased is not one), "" when it
// has none.
func LatestRelease(changelog string) string {
	if m := releaseHeading.FindStringSubmatch(changelog); m != nil {
		return m[1]
	}
	return ""
}
