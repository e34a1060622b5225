// Package schedule decides when agentsync syncs: a daemon that runs one job
// on a cron schedule (robfig/cron), never two at once, survives a panicking
// job, and on shutdown lets the job in flight finish within a grace period
// before cancelling it. It knows nothing of databases or HTTP: the job is a
// plain func(context.Context) error.
package schedule
