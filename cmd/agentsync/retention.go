package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/load"
)

// retentionSetting is OBSERVATION_RETENTION, for sync and run: how long raw
// observations are kept (0, the default, keeps them for ever).
type retentionSetting struct {
	value     string
	retention time.Duration
}

func (s *retentionSetting) register(fs *flagSet) {
	fs.String(&s.value, "observation-retention", "OBSERVATION_RETENTION", "",
		"drop raw observations (lastSeen per sync) older than this `duration`, a whole month at a time, such as 8760h; "+
			"the daily rollups keep their trends (default: keep everything)")
}

// parse validates the setting.
func (s *retentionSetting) parse() error {
	if s.value == "" {
		return nil
	}
	d, err := durationSetting("OBSERVATION_RETENTION", s.value)
	if err != nil {
		return err
	}
	if d < load.MinObservationRetention {
		return fmt.Errorf("OBSERVATION_RETENTION %q: want at least %s", s.value, load.MinObservationRetention)
	}
	s.retention = d
	return nil
}

// apply drops what is past the retention, when one is set. A failure is
// logged: it never fails a sync, and the next pass tries again.
func (s *retentionSetting) apply(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) {
	if s.retention == 0 {
		return
	}
	if _, err := load.DropObservations(ctx, pool, s.retention, time.Now(), logger); err != nil {
		logger.Warn("drop observations past their retention", "error", err)
	}
}
