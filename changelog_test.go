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

// TestReadmeTellsWhatADeploymentNeeds: the README walks through the Entra
// application, upgrading and rolling back, backup and restore, and the
// image to run, and the image it names is a release's, as the Kubernetes
// examples pull.
func TestReadmeTellsWhatADeploymentNeeds(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	section := func(heading string) string {
		_, rest, ok := strings.Cut(readme, "\n"+heading+"\n")
		if !ok {
			t.Errorf("README.md has no %q", heading)
			return ""
		}
		if end := regexp.MustCompile(`\n## `).FindStringIndex(rest); end != nil {
			rest = rest[:end[0]]
		}
		return rest
	}
	for heading, wants := range map[string][]string{
		"## Registering the Entra application": {"New registration", "multitenant", "WindowsDefenderATP", "Application permissions",
			"Machine.Read.All", "Grant admin consent", "client secret", "certificate", "DEFENDER_CLIENT_CERTIFICATE_FILE",
			"DEFENDER_CLIENT_SECRET_FILE", "adminconsent?client_id=", "agentsync fetch"},
		"## Upgrading":          {"CHANGELOG.md", "migrations", "--no-migrate", "agentsync migrate down", "agentsync migrate status", "What a rollback keeps"},
		"## Backup and restore": {"only copy", "pg_dump", "--schema=defender", "agentsync_goose_db_version", "pg_restore", "pg_dumpall --roles-only"},
		"### Container image":   {"ghcr.io/agentsync/agentsync:v", "@sha256:", "latest", "agentsync version"},
	} {
		text := section(heading)
		for _, want := range wants {
			if text != "" && !strings.Contains(text, want) {
				t.Errorf("README.md %s does not say %q", heading, want)
			}
		}
	}
	// The image the README tells to run is the one the examples pull.
	images := map[string]bool{}
	for _, dir := range []string{"deploy/kubernetes/daemon", "deploy/kubernetes/cronjob"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`(?m)^\s+image: (\S+)$`).FindAllStringSubmatch(string(b), -1) {
				images[m[1]] = true
			}
		}
	}
	if len(images) == 0 {
		t.Fatal("the Kubernetes examples name no image")
	}
	for image := range images {
		if !strings.Contains(section("### Container image"), strings.SplitN(image, "@", 2)[0]) {
			t.Errorf("the examples run %s, which the README's Container image does not name", image)
		}
	}
}
