package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The overview: one row per tenant, worst first, so that the tenant that
// needs someone today is read first, not found on page forty.

// LatestFailed tells that the tenant's latest agents sync failed.
func (t *Tenant) LatestFailed() bool { return t.Latest != nil && t.Latest.Status == "failed" }

// Title is what the report calls the tenant: its display name, else its
// id.
func (t *Tenant) Title() string {
	if t.Name != "" {
		return t.Name
	}
	return t.ID
}

// Glance is the fleet as the period's latest successful sync saw it; nil
// when the period had none.
func (t *Tenant) Glance() *FleetDay {
	if len(t.Days) == 0 {
		return nil
	}
	return &t.Days[len(t.Days)-1]
}

// StaleShare is the share of the active agents not seen for 7 days or
// more at the latest sync of the period; 0 without one.
func (t *Tenant) StaleShare() float64 {
	if d := t.Glance(); d != nil && d.Active > 0 {
		return float64(d.Stale7d) / float64(d.Active)
	}
	return 0
}

// BehindShare is the share of the active agents not on the tenant's newest
// Defender client at the latest sync of the period; 0 without one.
func (t *Tenant) BehindShare() float64 {
	if d := t.Glance(); d != nil && d.Active > 0 {
		return float64(d.Active-d.OnNewest) / float64(d.Active)
	}
	return 0
}

// FailingScans counts the active scan definitions whose latest scans
// failed.
func (t *Tenant) FailingScans() int {
	n := 0
	for _, c := range t.Coverage {
		if c.ConsecutiveFailures > 0 {
			n++
		}
	}
	return n
}

// OnBadScanner counts the active scan definitions whose scanner agent is
// stale or deleted.
func (t *Tenant) OnBadScanner() int {
	n := 0
	for _, c := range t.Coverage {
		if c.badScanner() {
			n++
		}
	}
	return n
}

func (c Coverage) badScanner() bool {
	return (c.ScannerStale != nil && *c.ScannerStale) || (c.ScannerDeleted != nil && *c.ScannerDeleted)
}

// needsLook tells a scan that failed, never succeeded, or runs on a stale
// or deleted scanner.
func (c Coverage) needsLook() bool {
	return c.ConsecutiveFailures > 0 || c.LastSuccess == nil || c.badScanner()
}

// CoverageSummary says in a line what agentsync demo prints of the
// tenant's scans: "71 active scan definitions: 4 failing, 3 on a stale or
// deleted scanner".
func (t *Tenant) CoverageSummary() string {
	n := len(t.Coverage)
	if n == 0 {
		return "No active scan definition."
	}
	noun := "definitions"
	if n == 1 {
		noun = "definition"
	}
	return fmt.Sprintf("%d active scan %s: %d failing, %d on a stale or deleted scanner", n, noun, t.FailingScans(), t.OnBadScanner())
}

// compareTenants orders t before u when t needs attention first: its
// latest sync failed, then more failing scans, then a larger share of
// stale agents, then a larger share not on the newest client; then by
// title.
func compareTenants(t, u *Tenant) int {
	boolRank := func(b bool) int {
		if b {
			return 0
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(boolRank(t.LatestFailed()), boolRank(u.LatestFailed())),
		cmp.Compare(u.FailingScans(), t.FailingScans()),
		cmp.Compare(u.StaleShare(), t.StaleShare()),
		cmp.Compare(u.BehindShare(), t.BehindShare()),
		cmp.Compare(strings.ToLower(t.Title()), strings.ToLower(u.Title())),
		cmp.Compare(t.ID, u.ID),
	)
}

// sortWorstFirst orders tenants as the overview lists them.
func sortWorstFirst(tenants []Tenant) {
	slices.SortStableFunc(tenants, func(a, b Tenant) int { return compareTenants(&a, &b) })
}

// age writes how long before now t was, in the largest unit that says it:
// "45 min", "5 h", "3 d".
func age(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0 min"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d d", int(d.Hours()/24))
}
