package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// durationForms says which durations every duration setting takes, for
// its errors.
const durationForms = "a duration such as 30s, 5m, 36h, 1h30m, 90d (days) or 12w (weeks)"

// daysAndWeeks matches the weeks and days that may lead a duration (12w,
// 90d, 1w2d, 1d12h), and the rest, in Go's units.
var daysAndWeeks = regexp.MustCompile(`^(?:([0-9]+)w)?(?:([0-9]+)d)?(.*)$`)

// maxDurationDays bounds days and weeks: a century, far within the range
// of time.Duration.
const maxDurationDays = 100 * 366

// errBadDuration is the error of a duration parseDuration cannot read.
var errBadDuration = errors.New("not " + durationForms)

// parseDuration reads a duration as every duration setting, and report
// --since, write it: Go's units (time.ParseDuration), led by days (d, 24
// hours) and weeks (w, 7 days) when wanted. A negative duration is an
// error.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := daysAndWeeks.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, errBadDuration
	}
	days := 0
	for i, per := range map[int]int{1: 7, 2: 1} {
		if m[i] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i])
		if err != nil || n > maxDurationDays {
			return 0, errBadDuration
		}
		days += n * per
	}
	if days > maxDurationDays {
		return 0, errBadDuration
	}
	d := time.Duration(days) * 24 * time.Hour
	if rest := m[3]; rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || (days > 0 && strings.HasPrefix(rest, "+")) {
			return 0, errBadDuration
		}
		d += r
	}
	return d, nil
}

// durationSetting parses the duration setting name (its variable), naming
// it and the forms it takes in the error.
func durationSetting(name, value string) (time.Duration, error) {
	d, err := parseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want %s", name, value, durationForms)
	}
	return d, nil
}
