// Package metrics exposes what agentsync does to Prometheus and to
// orchestrators: counters and histograms of syncs and Defender API calls (fed
// as an extract observer and by the daemon after each run), and an HTTP
// server with /metrics, /healthz (the process is alive) and /readyz (the
// database answers and the last sync did not fail).
//
// Every metric is registered on the package's own registry, never the global
// one, and named with the agentsync_ prefix.
package metrics
