package schedule

import (
	"errors"
	"testing"
	"time"
)

func TestParseAcceptsCommonSpecs(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"@hourly", "@daily", "@every 1s", "@every 30m", "*/5 * * * *", "0 3 * * 1-5", " @hourly ", "CRON_TZ=Europe/Paris 0 3 * * *", "TZ=America/New_York @daily"} {
		if _, err := Parse(spec); err != nil {
			t.Errorf("Parse(%q): %v", spec, err)
		}
	}
}

func TestParseRejectsMalformedSpecsWithoutPanicking(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{
		"", "   ", "* * *", "61 * * * *", "@every", "@every banana", "@fortnightly",
		"TZ=Bad/Zone * * * * *", "CRON_TZ=Not/AZone @hourly",
		// cron v3.0.1 panics on these (a zone prefix with no space after it).
		"TZ=UTC", "CRON_TZ=", "CRON_TZ=Europe/Paris", "TZ=", "CRON_TZ==",
		"CRON_TZ=UTC", // a zone, then no schedule
		// cron runs these every second; they are mistakes, not schedules.
		"@every -5m", "@every 0s", "@every 500ms", "CRON_TZ=UTC @every -1h",
	} {
		s, err := Parse(spec)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", spec, s)
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("Parse(%q) error %v does not wrap ErrConfig", spec, err)
		}
	}
}

func TestParseReadsZonelessSpecsInUTC(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	s, err := Parse("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 10, 12, 0, 0, 0, tokyo)
	want := time.Date(2026, 1, 11, 3, 0, 0, 0, time.UTC)
	if got := s.Next(from); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s (03:00 UTC)", from, got.UTC(), want)
	}

	s, err = Parse("CRON_TZ=Asia/Tokyo 0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	want = time.Date(2026, 1, 11, 3, 0, 0, 0, tokyo)
	if got := s.Next(from); !got.Equal(want) {
		t.Errorf("with CRON_TZ: Next(%s) = %s, want %s", from, got, want)
	}
}

// FuzzParse checks that no input makes Parse panic, and that it returns
// exactly one of a schedule and an error.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"@hourly", "@every 1s", "*/5 * * * *", "CRON_TZ=UTC 0 3 * * *", "TZ=UTC", "CRON_TZ=", "TZ=Bad/Zone * * * * *", "CRON_TZ=a=b c"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec)
		if (s == nil) == (err == nil) {
			t.Fatalf("Parse(%q) = %v, %v: want exactly one of a schedule and an error", spec, s, err)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("Parse(%q) error %v does not wrap ErrConfig", spec, err)
		}
	})
}
