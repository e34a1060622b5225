package schedule

import (
	"errors"
	"fmt"
)

// ErrConfig marks a configuration error: a malformed schedule or a missing
// job. Commands exit with the usage status when they see it.
var ErrConfig = errors.New("schedule configuration")

// Forms lists the schedules Parse accepts, for the messages of those who
// give one.
const Forms = `5 cron fields, minute hour day-of-month month day-of-week ("17 * * * *", "*/15 * * * *", "0 6 * * 1-5"); ` +
	`a descriptor: @yearly (or @annually), @monthly, @weekly, @daily (or @midnight), @hourly; ` +
	`or @every <duration> of at least 1s ("@every 30m"); each optionally after CRON_TZ=<zone> ("CRON_TZ=Europe/Paris 0 6 * * *"), else in UTC`

// SpecError is a schedule Parse refused: Reason says why. It wraps
// ErrConfig.
type SpecError struct {
	Spec, Reason string
}

func (e *SpecError) Error() string {
	if e.Spec == "" {
		return fmt.Sprintf("%v: schedule is empty", ErrConfig)
	}
	return fmt.Sprintf("%v: schedule %q: %s", ErrConfig, e.Spec, e.Reason)
}

func (e *SpecError) Unwrap() error { return ErrConfig }
