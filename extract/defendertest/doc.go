// Package defendertest is a simulated Microsoft Defender tenant: an HTTP
// server that issues tokens like Microsoft Entra ID and lists
// authenticated scan agents like the Defender API, with injectable faults
// and a deterministic fleet whose agents drift over simulated time.
//
// Tests start one with NewServer; a command can serve Tenant.Handler on a
// real address. Faults, agents, casing and simulated time can all be
// changed while it serves.
package defendertest
