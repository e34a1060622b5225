package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/agentsync/agentsync"
)

func TestSemanticVersion(t *testing.T) {
	t.Parallel()
	const changelog = "# Changelog\n\n## [Unreleased]\n\n- more\n\n## [0.4.2] - 2027-01-02\n\n- a fix\n\n## [0.4.1] - 2026-12-30\n"
	for built, want := range map[string]string{
		"v0.3.1":                  "0.3.1",
		"v0.3.1-dirty":            "0.3.1+dirty",
		"v0.3.1-4-gdeadbee":       "0.3.1+4.gdeadbee",
		"v0.3.1-4-gdeadbee-dirty": "0.3.1+4.gdeadbee.dirty",
		"v0.5.0-rc.1-2-gabc1234":  "0.5.0-rc.1+2.gabc1234",
		// No release tag: the changelog's latest release.
		"":              "0.4.2",
		"dev":           "0.4.2",
		"deadbee":       "0.4.2",
		"deadbee-dirty": "0.4.2",
		"0.3.1":         "0.4.2",
	} {
		if got := semanticVersion(built, changelog); got != want {
			t.Errorf("semanticVersion(%q) = %q, want %q", built, got, want)
		}
	}
	if got := semanticVersion("", "# Changelog\n\n## [Unreleased]\n"); got != "0.0.0" {
		t.Errorf("without a release anywhere: %q, want 0.0.0", got)
	}
}

// semver is the grammar of semantic versions 2.0.0.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// TestVersionIsTheChangelogsWithoutATag: a binary built without a release
// tag (as go test builds it) says the latest release of CHANGELOG.md, a
// semantic version.
func TestVersionIsTheChangelogsWithoutATag(t *testing.T) {
	t.Parallel()
	release := agentsync.LatestRelease(agentsync.Changelog)
	if !semver.MatchString(release) {
		t.Fatalf("CHANGELOG.md's latest release is %q, not a semantic version", release)
	}
	code, out, _ := runCLI(t, nil, "version")
	if code != exitOK || !strings.HasPrefix(out, "agentsync "+release+" (commit ") {
		t.Errorf("version: exit %d, %q; want agentsync %s", code, out, release)
	}
	for built := range map[string]bool{"v0.3.1-4-gdeadbee-dirty": true, "v0.5.0-rc.1": true, "": true} {
		if v := semanticVersion(built, agentsync.Changelog); !semver.MatchString(v) {
			t.Errorf("%q gives %q, not a semantic version", built, v)
		}
	}
}
