package defendertest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// historyRetention is how far back the simulated history reaches.
const historyRetention = 30 * day

// fleetDefinition is one scan definition's fixed traits; its state at a
// time is derived from them, like an agent's.
type fleetDefinition struct {
	id, name, renamedTo string
	scanType            string
	agent, movedTo      int // fleet agent indexes; movedTo -1: never moved
	moveAt              time.Time
	createAt, removeAt  time.Time // removeAt zero: never removed
	disableAt, enableAt time.Time // disableAt zero: never disabled; enableAt zero: not again
	interval, interval2 int       // hours before and after editAt
	editAt              time.Time // zero: never edited
	targets, added      []string  // IPs; added appear at editAt
	hosts               []string  // the host names of targets, then of added
	failing             int       // index of a target that starts failing; -1 none
	failFrom            time.Time
	offset              time.Duration // phase of the runs within the interval
	key                 uint64
	auth                AuthParams
}

// newFleetDefinitions makes the definitions the agents host: about one
// agent in six runs a network scan, a few run two, and a few retired
// Windows scans are still listed until they are removed.
func newFleetDefinitions(seed int64, agents []fleetAgent, start time.Time) []fleetDefinition {
	var defs []fleetDefinition
	for i := range agents {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(i)^0x5ca7_5ca7_5ca7))
		count := 0
		switch p := r.Float64(); {
		case p < 0.03:
			count = 2
		case p < 0.18:
			count = 1
		}
		for j := range count {
			defs = append(defs, newFleetDefinition(r, i, j, len(agents), agents[i].joinAt, start))
		}
	}
	return defs
}

func newFleetDefinition(r *rand.Rand, i, j, agents int, joinAt, start time.Time) fleetDefinition {
	days := func(lo, hi float64) time.Duration { return time.Duration((lo + r.Float64()*(hi-lo)) * float64(day)) }
	intervals := []int{2, 4, 4, 8, 12, 24, 24}
	d := fleetDefinition{
		id:       guid(r),
		name:     fmt.Sprintf("Network scan %03d-%d", i, j+1),
		scanType: "Network",
		agent:    i,
		movedTo:  -1,
		failing:  -1,
		interval: intervals[r.IntN(len(intervals))],
		key:      r.Uint64(),
	}
	d.interval2 = d.interval
	// Runs start on whole seconds, which session ids carry.
	d.offset = time.Duration(r.IntN(60)) * time.Minute
	d.createAt = start.Add(-days(1, 200))
	if r.Float64() < 0.10 {
		d.createAt = start.Add(days(1, 25)) // a new definition
	}
	if d.createAt.Before(joinAt) {
		d.createAt = joinAt.Add(time.Hour)
	}
	d.createAt = d.createAt.Truncate(time.Minute)
	n := 3 + r.IntN(6)
	for k := range n {
		d.targets = append(d.targets, fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j*64+k+1))
	}
	if r.Float64() < 0.05 {
		d.scanType, d.name = "Windows", fmt.Sprintf("Windows scan %03d", i)
		d.removeAt = start.Add(days(10, 20)) // the retired scan goes
		d.auth = AuthParams{Variant: "WindowsAuthParams", Type: "Kerberos", Fields: map[string]any{
			"username": "svc-scan", "password": simSecret(r), "domain": "corp.contoso.com", "isGmsaUser": true,
		}}
	} else {
		switch p := r.Float64(); {
		case p < 0.4:
			d.auth = AuthParams{Variant: "SnmpAuthParams", Type: "CommunityString", Fields: map[string]any{"communityString": simSecret(r)}}
		case p < 0.9:
			d.auth = AuthParams{Variant: "SnmpAuthParams", Type: "AuthPriv", Fields: map[string]any{
				"username": "snmp-reader", "authProtocol": "SHA1", "authPassword": simSecret(r), "privProtocol": "AES", "privPassword": simSecret(r),
			}}
		default:
			d.auth = AuthParams{Variant: "SnmpAuthParams", Type: "AuthNoPriv", Fields: map[string]any{
				"username": "snmp-reader", "authProtocol": "SHA1", "authPassword": simSecret(r), "keyVaultUri": "https://kv-scans.vault.azure.net/",
			}}
		}
		if r.Float64() < 0.04 {
			d.removeAt = start.Add(days(5, 40))
		}
	}
	if r.Float64() < 0.25 {
		d.editAt = start.Add(days(1, 30)).Truncate(time.Minute)
		d.interval2 = intervals[r.IntN(len(intervals))]
		for k := range 1 + r.IntN(3) {
			d.added = append(d.added, fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j*64+n+k+1))
		}
		if r.Float64() < 0.5 {
			d.renamedTo = d.name + " (extended)"
		}
	}
	if r.Float64() < 0.10 {
		d.disableAt = start.Add(days(1, 25)).Truncate(time.Minute)
		if r.Float64() < 0.7 {
			d.enableAt = d.disableAt.Add(days(1, 8)).Truncate(time.Minute)
		}
	}
	if r.Float64() < 0.08 && agents > 1 {
		d.moveAt = start.Add(days(1, 30)).Truncate(time.Minute)
		d.movedTo = (i + 1 + r.IntN(agents-1)) % agents
	}
	if r.Float64() < 0.2 {
		d.failing = r.IntN(n)
		d.failFrom = start.Add(days(-5, 30))
	}
	d.hosts = hostNames(append(slices.Clone(d.targets), d.added...))
	return d
}

// simSecret is a fake credential, as the vendor's example echoes real ones.
func simSecret(r *rand.Rand) string { return "sim~cred~" + hexString(r, 16) }

// listedAt reports whether the definition is listed at t.
func (d *fleetDefinition) listedAt(t time.Time) bool {
	return !t.Before(d.createAt) && (d.removeAt.IsZero() || t.Before(d.removeAt))
}

func (d *fleetDefinition) activeAt(t time.Time) bool {
	return d.disableAt.IsZero() || t.Before(d.disableAt) || (!d.enableAt.IsZero() && !t.Before(d.enableAt))
}

func (d *fleetDefinition) editedAt(t time.Time) bool {
	return !d.editAt.IsZero() && !t.Before(d.editAt)
}

func (d *fleetDefinition) agentAt(t time.Time) int {
	if d.movedTo >= 0 && !t.Before(d.moveAt) {
		return d.movedTo
	}
	return d.agent
}

func (d *fleetDefinition) targetsAt(t time.Time) []string {
	if d.editedAt(t) {
		return append(slices.Clone(d.targets), d.added...)
	}
	return d.targets
}

// hostNames returns the host name of each target IP.
func hostNames(ips []string) []string {
	hosts := make([]string, len(ips))
	for i, ip := range ips {
		hosts[i] = "net-" + strings.ReplaceAll(ip, ".", "-") + ".corp.contoso.com"
	}
	return hosts
}

// runsBetween returns the times the definition ran in [lo, hi], newest
// first: every interval hours from its creation (from its edit, with the
// new interval), while listed and active.
func (d *fleetDefinition) runsBetween(lo, hi time.Time) []time.Time {
	type segment struct {
		anchor, from, to time.Time
		every            time.Duration
	}
	end := hi
	if !d.removeAt.IsZero() && d.removeAt.Before(end) {
		end = d.removeAt.Add(-time.Nanosecond)
	}
	segs := []segment{{d.createAt.Add(d.offset), d.createAt, end, time.Duration(d.interval) * time.Hour}}
	if !d.editAt.IsZero() && d.editAt.Before(end) {
		segs[0].to = d.editAt.Add(-time.Nanosecond)
		segs = append(segs, segment{d.editAt.Add(d.offset), d.editAt, end, time.Duration(d.interval2) * time.Hour})
	}
	var out []time.Time
	for _, s := range segs {
		from := s.from
		if lo.After(from) {
			from = lo
		}
		if s.to.Before(from) {
			continue
		}
		k := int64(0)
		if from.After(s.anchor) {
			k = int64((from.Sub(s.anchor) + s.every - 1) / s.every)
		}
		for at := s.anchor.Add(time.Duration(k) * s.every); !at.After(s.to); at = at.Add(s.every) {
			if d.activeAt(at) {
				out = append(out, at)
			}
		}
	}
	slices.Reverse(out)
	return out
}

// definitionAt is the definition as listed at t.
func (f *Fleet) definitionAt(d *fleetDefinition, t time.Time) Definition {
	out := Definition{
		ID:            d.id,
		Name:          d.name,
		ScanType:      d.scanType,
		IsActive:      d.activeAt(t),
		IntervalHours: d.interval,
		Target:        strings.Join(d.targetsAt(t), ","),
		TargetType:    "Ip",
		CreatedBy:     "secops@contoso.com",
		OrgID:         DefaultTenantID,
		ScannerAgent:  f.agentSnapshot(d.agentAt(t), t),
	}
	auth := d.auth
	out.Auth = &auth
	if d.editedAt(t) {
		out.IntervalHours = d.interval2
		if d.renamedTo != "" {
			out.Name = d.renamedTo
		}
	}
	if runs := d.runsBetween(t.Add(-historyRetention), t); len(runs) > 0 {
		s := f.session(d, runs[0])
		ls := &LatestScan{Status: "Success", ExecutedAt: s.ScannedAt}
		if s.Status == "Fail" {
			ls.Status, ls.FailureReason = "Fail", s.GeneralError
		}
		out.LatestScan = ls
	}
	return out
}

// agentSnapshot is agent i as the embedded scannerAgent shows it at t:
// as listed, or its fixed traits when it is not listed then.
func (f *Fleet) agentSnapshot(i int, t time.Time) Agent {
	a := &f.agents[i]
	if ag, ok := a.at(f.start, t); ok {
		return ag
	}
	return Agent{ID: a.id, MachineID: a.machineID, ComputerDNSName: a.dnsName, AssignedApplicationID: a.appID}
}

// DefinitionsAt returns the scan definitions the API lists at simulated
// time t, in a stable order: they are edited, disabled, moved to another
// agent and removed over time.
func (f *Fleet) DefinitionsAt(t time.Time) []Definition {
	var out []Definition
	for i := range f.defs {
		if d := &f.defs[i]; d.listedAt(t) {
			out = append(out, f.definitionAt(d, t))
		}
	}
	return out
}

// run is one run of a definition, not yet made a Session.
type run struct {
	def *fleetDefinition
	at  time.Time
}

// runsAt returns the runs the history holds at t for the given
// definitions, newest first.
func (f *Fleet) runsAt(t time.Time, definitionIDs []string) []run {
	var out []run
	for _, id := range definitionIDs {
		i, ok := f.defIndex[id]
		if !ok {
			continue
		}
		d := &f.defs[i]
		for _, at := range d.runsBetween(t.Add(-historyRetention), t) {
			out = append(out, run{d, at})
		}
	}
	slices.SortStableFunc(out, func(a, b run) int { return b.at.Compare(a.at) })
	return out
}

// SessionsPage returns the sessions of SessionsAt from skip, at most top
// (all with top 0) newest first, or oldest first, and how many there are
// in all; only those are made.
func (f *Fleet) SessionsPage(t time.Time, definitionIDs []string, skip, top int, oldestFirst bool) ([]Session, int) {
	runs := f.runsAt(t, definitionIDs)
	if oldestFirst {
		slices.Reverse(runs)
	}
	end := len(runs)
	if top > 0 {
		end = min(end, skip+top)
	}
	skip = min(skip, end)
	out := make([]Session, 0, end-skip)
	for _, r := range runs[skip:end] {
		out = append(out, f.session(r.def, r.at))
	}
	return out, len(runs)
}

// SessionsAt returns the sessions the history holds at simulated time t
// for the given definitions, newest first: the runs of the last 30 days.
// A run whose agent is not listed or has gone stale fails; otherwise
// targets succeed, a target that starts failing fails from then on, a few
// fail at random, and a few runs fail whole.
func (f *Fleet) SessionsAt(t time.Time, definitionIDs []string) []Session {
	sessions, _ := f.SessionsPage(t, definitionIDs, 0, 0, false)
	return sessions
}

// Session returns the session with the given id as the history holds it
// at t, if any.
func (f *Fleet) Session(t time.Time, id string) (Session, bool) {
	if len(id) != 32 {
		return Session{}, false
	}
	key, err1 := strconv.ParseUint(id[:16], 16, 64)
	unix, err2 := strconv.ParseUint(id[16:], 16, 64)
	i, ok := f.defKeys[key]
	if err1 != nil || err2 != nil || !ok {
		return Session{}, false
	}
	d := &f.defs[i]
	at := time.Unix(int64(unix), 0).UTC()
	if at.After(t) || at.Before(t.Add(-historyRetention)) || !slices.ContainsFunc(d.runsBetween(at, at), at.Equal) {
		return Session{}, false
	}
	return f.session(d, at), true
}

// sessionID is the id of d's run at at: 32 hex digits, like the vendor's,
// from which Session finds the run again.
func sessionID(d *fleetDefinition, at time.Time) string {
	return fmt.Sprintf("%016x%016x", d.key, uint64(at.Unix()))
}

// session is the run of d at time at.
func (f *Fleet) session(d *fleetDefinition, at time.Time) Session {
	a := &f.agents[d.agentAt(at)]
	s := Session{DefinitionID: d.id, SessionID: sessionID(d, at), ScannerID: a.machineID, ScannedAt: at}
	_, listed := a.at(f.start, at)
	if !listed || (!a.staleAt.IsZero() && at.After(a.staleAt)) {
		s.Status, s.GeneralError = "Fail", "The scanner did not respond."
		return s
	}
	h := mix(d.key, uint64(at.Unix()))
	whole := h%50 == 0 // one run in fifty fails whole
	ok := 0
	ips := d.targetsAt(at)
	s.Targets = make([]Target, 0, len(ips))
	for k, ip := range ips {
		th := mix(h, uint64(k))
		t := Target{
			IP:          ip,
			Hostname:    d.hosts[k], // targetsAt lists targets, then added
			Description: []string{"Network device", "Switch", "Printer", "Router"}[th%4],
			Status:      "Success",
			Duration:    time.Duration(30+th>>8%900) * time.Second,
		}
		switch {
		case whole:
			t.Status, t.ErrorMessage = "Failure", "The scan was cancelled."
		case k == d.failing && !at.Before(d.failFrom):
			t.Status, t.ErrorMessage = "Failure", "SNMP authentication failed."
		case th>>32%33 == 0:
			t.Status, t.ErrorMessage = "Failure", "Request timed out."
		}
		if t.Status == "Success" {
			ok++
		}
		s.Targets = append(s.Targets, t)
	}
	switch {
	case ok == len(s.Targets):
		s.Status = "Success"
	case ok == 0:
		s.Status = "Fail"
		if whole {
			s.GeneralError = "The scan was cancelled."
		}
	default:
		s.Status = "Partial Success"
	}
	return s
}
