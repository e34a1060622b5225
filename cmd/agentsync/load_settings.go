package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// loadSettings are the settings of loading that sync and run share.
type loadSettings struct {
	Concurrency concurrencySetting `embed:""`
	Resources   resourceSettings   `embed:""`
	Guard       guardSettings      `embed:""`
	Timeout     syncTimeoutSetting `embed:""`
	Retention   retentionSetting   `embed:""`
}

// apply validates the settings into cfg and returns how many tenants to
// sync at once and the resources to sync.
func (s *loadSettings) apply(cfg *load.Config) (workers int, resources []scanagent.Resource, err error) {
	if err := s.Guard.apply(cfg); err != nil {
		return 0, nil, err
	}
	if err := s.Timeout.apply(cfg); err != nil {
		return 0, nil, err
	}
	if err := s.Retention.parse(); err != nil {
		return 0, nil, err
	}
	if workers, err = s.Concurrency.parse(); err != nil {
		return 0, nil, err
	}
	if resources, err = s.Resources.apply(cfg); err != nil {
		return 0, nil, err
	}
	// A session dropped within the lookback would be read and stored again
	// by the next sync.
	if r := s.Retention.scanRetention; r != 0 && r <= cfg.HistoryLookback {
		return 0, nil, fmt.Errorf("SCAN_HISTORY_RETENTION %q: want more than the lookback of the scan history (%s)", s.Retention.ScanValue, cfg.HistoryLookback)
	}
	return workers, resources, nil
}

// concurrencySetting is SYNC_CONCURRENCY.
type concurrencySetting struct {
	Value string `name:"concurrency" envvar:"SYNC_CONCURRENCY" placeholder:"n" default:"${default_concurrency}" help:"n tenants synced at once"`
}

// defaultConcurrency keeps a handful of tenants in flight: enough to hide
// the API's latency, few enough for a small database.
const defaultConcurrency = 4

func (s *concurrencySetting) parse() (int, error) {
	n, err := strconv.Atoi(s.Value)
	if err != nil || n < 1 || n > 256 {
		return 0, fmt.Errorf("SYNC_CONCURRENCY %q: want a whole number from 1 to 256", s.Value)
	}
	return n, nil
}

// resourceSettings choose what a sync fetches, for sync and run.
type resourceSettings struct {
	Resources string          `name:"resources" envvar:"SYNC_RESOURCES" placeholder:"list" default:"agents,definitions,history" help:"what a sync fetches, a comma-separated list of: agents, definitions (scan definitions), history (scan sessions and targets); each is its own run"`
	Lookback  lookbackSetting `embed:""`
}

// apply validates the settings into cfg and returns the resources.
func (s *resourceSettings) apply(cfg *load.Config) ([]scanagent.Resource, error) {
	resources, err := scanagent.ParseResources(s.Resources)
	if err != nil {
		return nil, fmt.Errorf("SYNC_RESOURCES: %w", err)
	}
	if cfg.HistoryLookback, err = s.Lookback.parse(); err != nil {
		return nil, err
	}
	return resources, nil
}

// lookbackSetting is SCAN_HISTORY_LOOKBACK, for sync, run and fetch.
type lookbackSetting struct {
	Value string `name:"scan-history-lookback" envvar:"SCAN_HISTORY_LOOKBACK" placeholder:"duration" default:"168h" help:"the duration back that every scan-history fetch reads: a session listed late within it is still stored"`
}

func (s *lookbackSetting) parse() (time.Duration, error) {
	d, err := durationSetting("SCAN_HISTORY_LOOKBACK", s.Value)
	if err == nil && d == 0 {
		err = errors.New("SCAN_HISTORY_LOOKBACK must be positive")
	}
	return d, err
}

// guardSettings configure the mass-deletion guard of the loader.
type guardSettings struct {
	MaxDeletedFraction string `name:"max-deleted-fraction" envvar:"SYNC_MAX_DELETED_FRACTION" placeholder:"fraction" default:"${default_max_deleted_fraction}" help:"mass-deletion guard: withhold a sync's deletions when it would mark more than this fraction of the active agents deleted, and more than --max-deleted-count of them"`
	MaxDeletedCount    string `name:"max-deleted-count" envvar:"SYNC_MAX_DELETED_COUNT" placeholder:"n" default:"${default_max_deleted_count}" help:"mass-deletion guard: withhold a sync's deletions only when they are more than n agents, and more than --max-deleted-fraction of the active ones"`
}

// apply validates the settings into cfg.
func (s *guardSettings) apply(cfg *load.Config) error {
	f, err := strconv.ParseFloat(s.MaxDeletedFraction, 64)
	if err != nil || f <= 0 || f > 1 {
		return fmt.Errorf("SYNC_MAX_DELETED_FRACTION %q: want a number above 0 and at most 1", s.MaxDeletedFraction)
	}
	n, err := strconv.Atoi(s.MaxDeletedCount)
	if err != nil || n < 1 {
		return fmt.Errorf("SYNC_MAX_DELETED_COUNT %q: want a whole number of at least 1", s.MaxDeletedCount)
	}
	cfg.MaxDeletedFraction, cfg.MaxDeletedCount = f, n
	return nil
}

// syncTimeoutSetting bounds one sync, for sync and run.
type syncTimeoutSetting struct {
	Value string `name:"sync-timeout" envvar:"SYNC_TIMEOUT" placeholder:"duration" default:"30m" help:"cancel a sync still running after this duration: it is rolled back and recorded failed; /readyz takes a run still marked running after it as stuck"`
}

// apply validates the setting into cfg.
func (s *syncTimeoutSetting) apply(cfg *load.Config) error {
	d, err := durationSetting("SYNC_TIMEOUT", s.Value)
	if err != nil {
		return err
	}
	if d == 0 {
		return errors.New("SYNC_TIMEOUT must be positive")
	}
	cfg.SyncTimeout = d
	return nil
}

// retentionSetting is OBSERVATION_RETENTION, SCAN_HISTORY_RETENTION and
// RUN_RETENTION, for sync and run: how long raw observations, scan
// sessions and runs are kept (0, the default, keeps them for ever).
type retentionSetting struct {
	Value         string `name:"observation-retention" envvar:"OBSERVATION_RETENTION" placeholder:"duration" help:"drop raw observations (lastSeen per sync) older than this duration, a whole month at a time, such as 365d; the daily rollups keep their trends (default: keep everything)"`
	ScanValue     string `name:"scan-history-retention" envvar:"SCAN_HISTORY_RETENTION" placeholder:"duration" help:"drop scan sessions (with their targets) that ran longer ago than this duration, such as 180d; what scan_coverage and scan_target_status show is kept (default: keep everything)"`
	RunValue      string `name:"run-retention" envvar:"RUN_RETENTION" placeholder:"duration" help:"drop the runs older than this duration that nothing refers to any more (runs that changed nothing, or whose observations and scan sessions retention dropped), such as 400d; their place in the digest chains is kept, so agentsync verify still checks every chain (default: keep everything)"`
	retention     time.Duration
	scanRetention time.Duration
	runRetention  time.Duration
}

// parse validates the setting.
func (s *retentionSetting) parse() error {
	var err error
	if s.retention, err = retentionOf("OBSERVATION_RETENTION", s.Value, load.MinObservationRetention); err != nil {
		return err
	}
	if s.scanRetention, err = retentionOf("SCAN_HISTORY_RETENTION", s.ScanValue, load.MinScanHistoryRetention); err != nil {
		return err
	}
	if s.runRetention, err = retentionOf("RUN_RETENTION", s.RunValue, load.MinRunRetention); err != nil || s.runRetention == 0 {
		return err
	}
	// A run is looked at once, when it passes the retention: what it wrote
	// must be gone by then for it to be dropped. Observations go a whole
	// month at a time.
	if s.retention != 0 && s.runRetention < s.retention+31*24*time.Hour {
		return fmt.Errorf("RUN_RETENTION %q: want at least %s, a month (31d) more than OBSERVATION_RETENTION, so that a run's observations are gone when it passes its retention", s.RunValue, s.retention+31*24*time.Hour)
	}
	if s.scanRetention != 0 && s.runRetention <= s.scanRetention {
		return fmt.Errorf("RUN_RETENTION %q: want more than %s, SCAN_HISTORY_RETENTION, so that a run's scan sessions are gone when it passes its retention", s.RunValue, s.scanRetention)
	}
	return nil
}

// retentionOf reads the retention setting name: 0 when value is empty,
// else a duration of at least least.
func retentionOf(name, value string, least time.Duration) (time.Duration, error) {
	if value == "" {
		return 0, nil
	}
	d, err := durationSetting(name, value)
	if err != nil {
		return 0, err
	}
	if d < least {
		return 0, fmt.Errorf("%s %q: want at least %s", name, value, least)
	}
	return d, nil
}

// apply drops what is past the retention, when one is set. A failure is
// logged: it never fails a sync, and the next pass tries again.
func (s *retentionSetting) apply(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) {
	if s.retention != 0 {
		if _, err := load.DropObservations(ctx, pool, s.retention, time.Now(), logger); err != nil {
			logger.Warn("drop observations past their retention", "error", err)
		}
	}
	if s.scanRetention != 0 {
		if _, err := load.DropScanHistory(ctx, pool, s.scanRetention, time.Now(), logger); err != nil {
			logger.Warn("drop scan history past its retention", "error", err)
		}
	}
	// Last: the runs whose observations and sessions were just dropped
	// may go too.
	if s.runRetention != 0 {
		if _, err := load.DropRuns(ctx, pool, s.runRetention, time.Now(), logger); err != nil {
			logger.Warn("drop runs past their retention", "error", err)
		}
	}
}
