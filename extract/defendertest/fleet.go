package defendertest

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"
)

// Fleet is a deterministic population of scan agents, and of the scan
// definitions they run with their history, that drifts over
// simulated time the way a real tenant's does: Defender client versions
// rolled out in waves over weeks, a scanner upgrade, lastSeen advancing as
// agents check in, some agents going stale, some vanishing for a while and
// coming back, some decommissioned, new ones appearing, a few renamed, a few
// carrying fields the documentation does not list. Its state depends only
// on the seed and the time asked for, so the same seed and time always
// give the same agents.
type Fleet struct {
	start  time.Time
	agents []fleetAgent
	// defs are the scan definitions the agents run, defIndex their
	// indexes by id.
	defs     []fleetDefinition
	defIndex map[string]int
	defKeys  map[uint64]int
}

// Versions the fleet rolls out, oldest first.
const (
	ClientVersion1  = "10.8295.22621.1010"
	ClientVersion2  = "10.8295.22621.1195"
	ClientVersion3  = "10.8295.22631.1062"
	ScannerVersion1 = "7.1.1"
	ScannerVersion2 = "7.6.0.0"
)

var appIDs = [...]string{
	"9E0FA0EB-0A51-4357-9C87-C21BFBE07571",
	"4c1f7a62-8d3e-4b95-a0f2-6e9d1b3c5a78",
	"d27b9e40-3f6a-4c18-b5d9-0a8e2f7c6b13",
}

const day = 24 * time.Hour

// fleetAgent is one agent's fixed traits; its state at a time is derived
// from them.
type fleetAgent struct {
	id, machineID        string
	dnsName, renamedTo   string
	appID                string
	joinAt               time.Time
	renameAt             time.Time // zero: never renamed
	vanishAt, returnAt   time.Time // zero: never vanishes
	removeAt             time.Time // zero: never removed
	staleAt              time.Time // zero: never stops checking in
	period               time.Duration
	key                  uint64
	clientRing, scanRing float64
	lagging              bool // never takes the third client version
	neverCommand         bool
	extra                map[string]any
}

// NewFleet makes n agents (ever: at any time some are not yet there or
// gone) whose history starts around start. It costs a few hundred
// nanoseconds an agent; 100,000 agents are cheap.
func NewFleet(seed int64, n int, start time.Time) *Fleet {
	f := &Fleet{start: start.UTC(), agents: make([]fleetAgent, n)}
	for i := range f.agents {
		f.agents[i] = newFleetAgent(seed, i, f.start)
	}
	f.defs = newFleetDefinitions(seed, f.agents, f.start)
	f.defIndex = make(map[string]int, len(f.defs))
	f.defKeys = make(map[uint64]int, len(f.defs))
	for i, d := range f.defs {
		f.defIndex[d.id] = i
		f.defKeys[d.key] = i
	}
	return f
}

func newFleetAgent(seed int64, i int, start time.Time) fleetAgent {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
	days := func(lo, hi float64) time.Duration { return time.Duration((lo + r.Float64()*(hi-lo)) * float64(day)) }
	a := fleetAgent{
		id:        guid(r) + "_" + hexString(r, 40),
		machineID: hexString(r, 40),
		period:    time.Duration(30+r.IntN(150)) * time.Minute,
		key:       r.Uint64(),
	}
	a.clientRing, a.scanRing = r.Float64(), r.Float64()
	a.lagging = r.Float64() < 0.10
	a.neverCommand = r.Float64() < 0.12
	if r.Float64() < 0.75 {
		a.dnsName = fmt.Sprintf("scan%05d.corp.contoso.com", i)
	} else {
		a.dnsName = fmt.Sprintf("SCAN%05d", i)
	}
	switch p := r.Float64(); {
	case p < 0.70:
		a.appID = appIDs[0]
	case p < 0.95:
		a.appID = appIDs[1]
	default:
		a.appID = appIDs[2]
	}
	if r.Float64() < 0.05 {
		a.joinAt = start.Add(days(0.5, 60)) // a new agent
	} else {
		a.joinAt = start.Add(-days(1, 400))
	}
	// Whole seconds, so that check-ins carry .NET's 100 ns ticks at most.
	a.joinAt = a.joinAt.Truncate(time.Second)
	if r.Float64() < 0.015 {
		a.renamedTo = fmt.Sprintf("scan%05d.ad.contoso.com", i)
		a.renameAt = start.Add(days(2, 60))
	}
	if r.Float64() < 0.07 {
		a.staleAt = start.Add(days(-10, 50))
		if a.staleAt.Before(a.joinAt) {
			a.staleAt = a.joinAt.Add(a.period)
		}
	}
	if r.Float64() < 0.03 {
		a.vanishAt = start.Add(days(1, 40))
		a.returnAt = a.vanishAt.Add(days(1, 10))
	}
	if r.Float64() < 0.02 {
		a.removeAt = start.Add(days(5, 60))
	}
	switch p := r.Float64(); {
	case p < 0.01:
		a.extra = map[string]any{"scanHealth": map[string]any{"status": "Healthy", "checks": 3}}
	case p < 0.04:
		a.extra = map[string]any{"osPlatform": "WindowsServer2022"}
	}
	return a
}

// Start is the time the fleet was made for.
func (f *Fleet) Start() time.Time { return f.start }

// Len is the number of agents the fleet ever has.
func (f *Fleet) Len() int { return len(f.agents) }

// AgentsAt returns the agents the API lists at simulated time t, in a
// stable order. Their Extra maps belong to the fleet: read them, do not
// change them.
func (f *Fleet) AgentsAt(t time.Time) []Agent {
	out := make([]Agent, 0, len(f.agents))
	for i := range f.agents {
		if a, ok := f.agents[i].at(f.start, t); ok {
			out = append(out, a)
		}
	}
	return out
}

// at is the agent as listed at t, if it is listed.
func (a *fleetAgent) at(start, t time.Time) (Agent, bool) {
	switch {
	case t.Before(a.joinAt),
		!a.removeAt.IsZero() && !t.Before(a.removeAt),
		!a.vanishAt.IsZero() && !t.Before(a.vanishAt) && t.Before(a.returnAt):
		return Agent{}, false
	}
	// A stale agent stopped checking in: what the API knows of it froze.
	checkedUpTo := t
	if !a.staleAt.IsZero() && t.After(a.staleAt) {
		checkedUpTo = a.staleAt
	}
	k := int64(checkedUpTo.Sub(a.joinAt) / a.period)
	lastSeen := a.checkIn(k, 0, checkedUpTo)
	out := Agent{
		ID:                     a.id,
		MachineID:              a.machineID,
		ComputerDNSName:        a.dnsName,
		AssignedApplicationID:  a.appID,
		ScannerSoftwareVersion: ScannerVersion1,
		MDEClientVersion:       ClientVersion1,
		LastSeen:               lastSeen,
		Extra:                  a.extra,
	}
	if !a.neverCommand {
		// The scanner runs a command every third check-in.
		out.LastCommandExecution = a.checkIn(k-k%3, 1, lastSeen)
	}
	if !a.renameAt.IsZero() && !lastSeen.Before(a.renameAt) {
		out.ComputerDNSName = a.renamedTo
	}
	// Rollouts reach an agent when it checks in, ring by ring.
	if !lastSeen.Before(start.Add(time.Duration((a.clientRing*14 - 2) * float64(day)))) {
		out.MDEClientVersion = ClientVersion2
	}
	if !a.lagging && !lastSeen.Before(start.Add(time.Duration((21+a.clientRing*21)*float64(day)))) {
		out.MDEClientVersion = ClientVersion3
	}
	if !lastSeen.Before(start.Add(time.Duration((a.scanRing*28 - 3) * float64(day)))) {
		out.ScannerSoftwareVersion = ScannerVersion2
	}
	return out, true
}

// checkIn is the time of the agent's k-th check-in (or command, by salt),
// with a sub-second part in .NET's 100 ns ticks, never after notAfter.
func (a *fleetAgent) checkIn(k int64, salt uint64, notAfter time.Time) time.Time {
	base := a.joinAt.Add(time.Duration(k) * a.period)
	h := mix(a.key^salt, uint64(k))
	var frac time.Duration
	if h%20 != 0 { // one check-in in twenty lands on a whole second
		frac = time.Duration(h>>8%10_000_000) * 100
	}
	if t := base.Add(frac); !t.After(notAfter) {
		return t
	}
	return base
}

// mix is SplitMix64's finalizer over two words: a cheap, well-spread hash.
func mix(a, b uint64) uint64 {
	z := a ^ (b * 0x9e3779b97f4a7c15)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func hexString(r *rand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

func guid(r *rand.Rand) string {
	h := hexString(r, 32)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
