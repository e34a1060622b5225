package schedule

import "errors"

// ErrConfig marks a configuration error: a malformed schedule or a missing
// job. Commands exit with the usage status when they see it.
var ErrConfig = errors.New("schedule configuration")
