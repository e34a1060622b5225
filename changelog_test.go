package agentsync_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/agentsync/agentsync"
)

func TestLatestRelease(t *testing.T) {
	t.Parallel()
	for changelog, want := range map[string]string{
		"## [Unreleased]\n\n## [1.2.3] - 2026-01-02\n\n## [1.2.2] - 2025-12-01\n": "1.2.3",
		"## [0.2.0-rc.1] - 2026-01-02\n":                                          "0.2.0-rc.1",
		"## [Unreleased]\n":                                                       "",
		"## [1.2.3]\n":                                                            "", // no date: not released
	} {
		if got := agentsync.LatestRelease(changelog); got != want {
			t.Errorf("LatestRelease(%q) = %q, want %q", changelog, got, want)
		}
	}
}

// TestChangelogKeepsTheFormat: CHANGELOG.md is a Keep a Changelog file:
// an Unreleased section first, then the releases newest first, each dated,
// with their change types, and a link for each version.
func TestChangelogKeepsTheFormat(t *testing.T) {
	t.Parallel()
	c := agentsync.Changelog
	if !strings.HasPrefix(c, "# Changelog\n") || !strings.Contains(c, "keepachangelog.com") || !strings.Contains(c, "semver.org") {
		t.Error("CHANGELOG.md does not say it keeps a changelog in semantic versions")
	}
	headings := regexp.MustCompile(`(?m)^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$`).FindAllStringSubmatch(c, -1)
	if len(headings) < 2 || headings[0][1] != "Unreleased" || headings[1][1] != "0.1.0" {
		t.Fatalf("headings %q: want Unreleased, then 0.1.0", headings)
	}
	for _, h := range headings[1:] {
		if h[2] == "" {
			t.Errorf("release %s has no date", h[1])
		}
	}
	for _, h := range headings {
		if !strings.Contains(c, "\n["+h[1]+"]: https://") {
			t.Errorf("no link for [%s]", h[1])
		}
	}
	for _, kind := range regexp.MustCompile(`(?m)^### (.*)$`).FindAllStringSubmatch(c, -1) {
		switch kind[1] {
		case "Added", "Changed", "Deprecated", "Removed", "Fixed", "Security":
		default:
			t.Errorf("section %q is none of Keep a Changelog's", kind[1])
		}
	}
}

// TestLicenseIsApache2: LICENSE is the full Apache License 2.0.
func TestLicenseIsApache2(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	l := string(b)
	for _, want := range []string{"Apache License\n                           Version 2.0, January 2004",
		"TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "9. Accepting Warranty or Additional Liability.",
		"END OF TERMS AND CONDITIONS", "APPENDIX: How to apply the Apache License to your work."} {
		if !strings.Contains(l, want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
}
