package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts the standard five fields (minute to day of week), the
// descriptors (@hourly, @daily, ...) and @every <duration>, with an optional
// CRON_TZ= (or TZ=) prefix.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse validates spec and returns its schedule. Without a CRON_TZ= prefix
// the schedule is read in UTC, whatever the host's zone, so that replicas in
// different zones agree. Parse never panics: cron's parser panics on some
// malformed zone prefixes (such as "TZ=UTC" with nothing after it), and that
// panic comes back as an error wrapping ErrConfig.
func Parse(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &SpecError{Spec: spec, Reason: "malformed time zone prefix"}
		}
	}()
	trimmed := strings.TrimSpace(spec)
	if trimmed == "" {
		return nil, &SpecError{Spec: spec, Reason: "empty"}
	}
	if err := checkEvery(trimmed); err != nil {
		return nil, &SpecError{Spec: spec, Reason: err.Error()}
	}
	s, err = parser.Parse(trimmed)
	if err != nil {
		return nil, &SpecError{Spec: spec, Reason: err.Error()}
	}
	if spec, ok := s.(*cron.SpecSchedule); ok && spec.Location == time.Local {
		// The parser leaves zone-less specs in time.Local, which then follow
		// the zone of the time handed to Next; pin them to UTC instead.
		spec.Location = time.UTC
	}
	return s, nil
}

// checkEvery refuses an @every interval under one second. Cron's parser
// accepts any duration, negative and zero included, and silently runs such
// a schedule every second: "@every -5m" must be an error, not a sync a
// second.
func checkEvery(spec string) error {
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		_, spec, _ = strings.Cut(spec, " ")
		spec = strings.TrimSpace(spec)
	}
	const every = "@every "
	if !strings.HasPrefix(spec, every) {
		return nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(spec[len(every):]))
	if err != nil {
		return nil // the parser's own error says it better
	}
	if d < time.Second {
		return fmt.Errorf("@every interval %s: want at least 1s", d)
	}
	return nil
}
