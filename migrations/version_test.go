package migrations

import (
	"errors"
	"strings"
	"testing"
)

func TestServerVersionBelow14IsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		num     int
		version string
		ok      bool
	}{
		{130016, "13.16", false},
		{120020, "12.20 (Debian 12.20-1)", false},
		{140000, "14.0", true},
		{150020, "15.20", true},
		{180000, "18.0", true},
	} {
		err := checkServerVersion(tc.num, tc.version)
		if tc.ok != (err == nil) {
			t.Errorf("PostgreSQL %s: %v, want ok = %v", tc.version, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrServerTooOld) || !strings.Contains(err.Error(), tc.version) || !strings.Contains(err.Error(), "14")) {
			t.Errorf("PostgreSQL %s: %v, want an error naming the version and 14", tc.version, err)
		}
	}
}
