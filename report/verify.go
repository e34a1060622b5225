package report

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/load"
)

// WriteVerifyText prints what agentsync verify found, a line per chain
// (tenant and resource): "N runs verified, chain head <digest>", or the
// first run whose digest no longer matches and what differs; then a line
// saying whether every chain verified.
func WriteVerifyText(w io.Writer, chains []load.ChainVerification) error {
	failed := 0
	for _, c := range chains {
		name := safetext.Escape(c.TenantID) + " " + c.Resource
		if m := c.Mismatch; m != nil {
			failed++
			at := ""
			if m.FetchedAt != nil {
				at = ", fetched " + m.FetchedAt.UTC().Format(time.RFC3339Nano)
			}
			if _, err := fmt.Fprintf(w, "%s: run %d%s does not match its digest: %s (%d runs before it verified)\n",
				name, m.RunID, at, m.Reason, c.Runs); err != nil {
				return err
			}
			continue
		}
		line := fmt.Sprintf("%s: %d runs verified, chain head %s", name, c.Runs, orNone(c.HeadDigest))
		if c.HeadRunID != 0 {
			line += fmt.Sprintf(" (run %d, fetched %s)", c.HeadRunID, c.HeadFetchedAt.UTC().Format(time.RFC3339Nano))
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
		if c.ComputedAtUpgrade > 0 {
			if _, err := fmt.Fprintf(w, "  %d of them have digests computed at the upgrade to digests: they prove nothing of before it\n",
				c.ComputedAtUpgrade); err != nil {
				return err
			}
		}
		if c.ObservationsDropped > 0 {
			if _, err := fmt.Fprintf(w, "  %d of them had their observations dropped by OBSERVATION_RETENTION: those were taken as their digests kept them\n",
				c.ObservationsDropped); err != nil {
				return err
			}
		}
		if c.SessionsDropped > 0 {
			if _, err := fmt.Fprintf(w, "  %d of them had scan sessions or targets dropped by SCAN_HISTORY_RETENTION: those were taken as their digests kept them\n",
				c.SessionsDropped); err != nil {
				return err
			}
		}
		if c.RunsDropped > 0 {
			if _, err := fmt.Fprintf(w, "  and %d runs dropped by RUN_RETENTION, whose digests the chain was recomputed through\n",
				c.RunsDropped); err != nil {
				return err
			}
		}
	}
	var err error
	switch {
	case len(chains) == 0:
		_, err = fmt.Fprintln(w, "no successful run to verify")
	case failed == 0:
		_, err = fmt.Fprintf(w, "verified: %d chains, every run's stored rows give its digest\n", len(chains))
	default:
		_, err = fmt.Fprintf(w, "NOT verified: %d of %d chains do not match their digests\n", failed, len(chains))
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// WriteVerifyJSON prints what agentsync verify found as one JSON object:
// verified (true when every chain verified) and chains, each with its
// tenant_id, resource, runs_verified, head_run_id, head_fetched_at,
// head_digest (hex), computed_at_upgrade, observations_dropped and
// mismatch (null, or the run_id, fetched_at, reason and parts).
func WriteVerifyJSON(w io.Writer, chains []load.ChainVerification) error {
	if chains == nil {
		chains = []load.ChainVerification{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Verified bool                     `json:"verified"`
		Chains   []load.ChainVerification `json:"chains"`
	}{load.Verified(chains), chains})
}
