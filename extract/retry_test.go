package extract

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 60 ", time.Minute, true},
		{"99999999999999", 24 * time.Hour, true}, // capped, never overflowing
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true}, // in the past: no wait
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNextLinkMustStayOnTheAPIHost(t *testing.T) {
	t.Parallel()
	c, err := New(Config{TenantID: "t", ClientID: "c", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	current := c.ep.list.JoinPath()
	current.RawQuery = "$skiptoken=abc"
	tests := []struct {
		link string
		want string // "" when refused
	}{
		{"https://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=def",
			"https://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=def"},
		{"/api/DeviceAuthenticatedScanAgents?$skiptoken=rel",
			"https://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=rel"},
		{"https://API.Security.Microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=x#frag",
			"https://API.Security.Microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=x"},
		// Defender may answer from a regional or legacy host.
		{"https://api-us.securitycenter.microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=y",
			"https://api-us.securitycenter.microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=y"},
		{"https://evil.example.com/api/DeviceAuthenticatedScanAgents?$skiptoken=z", ""},
		{"https://security.microsoft.com.evil.example/api", ""},
		{"http://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents", ""},
		{"https://[::1", ""},
	}
	for _, tt := range tests {
		got, err := c.nextPage(current, tt.link)
		switch {
		case tt.want == "" && !errors.Is(err, ErrBadNextLink):
			t.Errorf("nextPage(%q) = %v, %v; want ErrBadNextLink", tt.link, got, err)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("nextPage(%q) = %v, %v; want %s", tt.link, got, err, tt.want)
		}
	}
}

func TestRedactedURLHidesQueryValues(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=SECRETISH&b=2")
	if got, want := redactedURL(u), "https://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents?$skiptoken=…&b=…"; got != want {
		// Sorted names: $ sorts before b.
		t.Errorf("redactedURL = %s, want %s", got, want)
	}
}

func TestParseTimestampRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"yesterday", "2022-05-08", "2022-05-08T12:18", "2022-05-08T24:00:00Z", "2022-02-30T00:00:00Z",
		"2022-05-08T12:18:41+25:00", "2022-05-08T12:18:41.Z", " 2022-05-08T12:18:41Z", "2022-05-08T12:18:41Z junk",
		"1715170721", "9999-12-31T23:59:59-00:01",
	} {
		if got, err := parseTimestamp(s); err == nil {
			t.Errorf("parseTimestamp(%q) = %v, want an error", s, got)
		}
	}
}
