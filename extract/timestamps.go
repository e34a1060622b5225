package extract

import (
	"errors"
	"strings"
	"time"
)

// neverBefore is the first instant that is a real time: the API sends
// .NET's DateTime.MinValue, 0001-01-01T00:00:00, for "never", sometimes with
// a zone offset, which moves it by up to a day either way.
var neverBefore = time.Date(1, time.January, 2, 0, 0, 0, 0, time.UTC)

// lastYear is the last year a time may fall in: JSON (RFC 3339) cannot
// write later years.
const lastYear = 9999

// Layouts parseTimestamp tries once the date and time are separated by 'T'.
// Go parses any number of fractional digits after the seconds even when the
// layout has none.
const (
	layoutZoned   = time.RFC3339Nano
	layoutUnzoned = "2006-01-02T15:04:05.999999999"
)

var errTimestampRange = errors.New("after year 9999")

// parseTimestamp reads the API's timestamps: 0 to 9 fractional digits,
// 'T' or a space between date and time, and "Z", a numeric offset or no
// zone at all (which means UTC). It returns the time in UTC truncated to
// microseconds, PostgreSQL's precision, and the zero time for "" and for
// .NET's "never".
func parseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) > 10 && (s[10] == ' ' || s[10] == 't') {
		s = s[:10] + "T" + s[11:]
	}
	if strings.HasSuffix(s, "z") {
		s = s[:len(s)-1] + "Z"
	}
	var t time.Time
	var err error
	if hasZone(s) {
		t, err = time.Parse(layoutZoned, s)
	} else {
		t, err = time.Parse(layoutUnzoned, s)
	}
	if err != nil {
		return time.Time{}, err
	}
	t = t.UTC()
	if t.Before(neverBefore) {
		return time.Time{}, nil
	}
	if t.Year() > lastYear {
		return time.Time{}, errTimestampRange
	}
	return t.Truncate(time.Microsecond), nil
}

// hasZone reports whether s, a date and a time, ends with a zone: "Z" or
// an offset after the time (the date's own hyphens do not count).
func hasZone(s string) bool {
	if strings.HasSuffix(s, "Z") {
		return true
	}
	if i := strings.IndexByte(s, 'T'); i >= 0 {
		return strings.ContainsAny(s[i:], "+-")
	}
	return false
}
