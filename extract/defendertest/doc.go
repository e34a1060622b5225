// Package defendertest is a simulated Microsoft Defender tenant: an HTTP
// server that issues tokens like Microsoft Entra ID and serves the
// authenticated scan API family like Defender (agents, scan definitions,
// scan history by definition and by session), with the vendor's casing
// and quirks, injectable faults on every endpoint, and a deterministic
// fleet whose agents, definitions and sessions drift over simulated time.
//
// Tests start one with NewServer; a command can serve Tenant.Handler on a
// real address. Faults, agents, scans, casing and simulated time can all
// be changed while it serves.
package defendertest
