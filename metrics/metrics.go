package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Run statuses, the values of the status label of agentsync_sync_runs_total.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	// StatusSkipped counts runs that did not sync because another process
	// was syncing the tenant.
	StatusSkipped = "skipped"
)

// Outcome is what one finished sync did, for Metrics.SyncFinished.
type Outcome struct {
	// Status is StatusSucceeded or StatusFailed.
	Status   string
	Duration time.Duration
	// FinishedAt is when the run ended; for a success it becomes the last
	// successful sync time.
	FinishedAt time.Time
	// Agent counts of the run; zero for a failed run, which changed nothing.
	Seen, Inserted, Changed, Unchanged, Deleted, Withheld, Rejected int
}

// Metrics holds agentsync's collectors on a registry of their own. Its
// methods APIRequest, Retry, TokenFetch and Page make it an extract.Observer.
// All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	lastSuccess  prometheus.Gauge
	lastSeen     prometheus.Gauge
	runDuration  *prometheus.HistogramVec
	runs         *prometheus.CounterVec
	agents       *prometheus.CounterVec
	apiRequests  *prometheus.CounterVec
	apiDuration  prometheus.Histogram
	throttled    prometheus.Counter
	retries      *prometheus.CounterVec
	tokenFetches *prometheus.CounterVec
	pages        prometheus.Counter
}

// agentOutcomes are the values of the outcome label of agentsync_agents_total.
var agentOutcomes = []string{"inserted", "changed", "unchanged", "deleted", "withheld", "rejected"}

// New returns the collectors, registered on a new registry together with the
// Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentsync_last_success_timestamp_seconds",
			Help: "Unix time at which the latest successful sync by this process finished; 0 before the first.",
		}),
		lastSeen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agentsync_last_success_agents",
			Help: "Agents the latest successful sync by this process returned.",
		}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentsync_sync_duration_seconds",
			Help:    "Duration of syncs, by how they ended.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"status"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_sync_runs_total",
			Help: "Scheduled syncs by status: succeeded, failed, or skipped because another process was syncing the tenant.",
		}, []string{"status"}),
		agents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_agents_total",
			Help: "Agents processed by successful syncs, by outcome: inserted, changed, unchanged, deleted, withheld (deletion held back by the mass-deletion guard), rejected.",
		}, []string{"outcome"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_api_requests_total",
			Help: "HTTP requests to the Defender API, by status code (\"error\" when no response came).",
		}, []string{"code"}),
		apiDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentsync_api_request_duration_seconds",
			Help:    "Duration of HTTP requests to the Defender API.",
			Buckets: prometheus.DefBuckets,
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentsync_api_throttled_total",
			Help: "Defender API responses with status 429 (rate limited).",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_api_retries_total",
			Help: "Retried Defender API requests, by reason.",
		}, []string{"reason"}),
		tokenFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_token_fetches_total",
			Help: "OAuth token requests, by result: success or failure.",
		}, []string{"result"}),
		pages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentsync_api_pages_total",
			Help: "Pages of agents received from the Defender API.",
		}),
	}
	m.reg.MustRegister(m.lastSuccess, m.lastSeen, m.runDuration, m.runs, m.agents, m.apiRequests,
		m.apiDuration, m.throttled, m.retries, m.tokenFetches, m.pages,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that exist from the start, so that rate() and alerts on them
	// work before the first event.
	for _, s := range []string{StatusSucceeded, StatusFailed, StatusSkipped} {
		m.runs.WithLabelValues(s)
	}
	for _, o := range agentOutcomes {
		m.agents.WithLabelValues(o)
	}
	for _, r := range []string{"success", "failure"} {
		m.tokenFetches.WithLabelValues(r)
	}
	return m
}

// Registry returns the registry holding the collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// APIRequest records one HTTP request to the API; status 0 means no
// response (a transport error).
func (m *Metrics) APIRequest(status int, d time.Duration) {
	code := "error"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.apiRequests.WithLabelValues(code).Inc()
	m.apiDuration.Observe(d.Seconds())
	if status == 429 {
		m.throttled.Inc()
	}
}

// Retry records that a request will be retried, and why.
func (m *Metrics) Retry(reason string) { m.retries.WithLabelValues(reason).Inc() }

// TokenFetch records one token request; err is nil on success.
func (m *Metrics) TokenFetch(err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.tokenFetches.WithLabelValues(result).Inc()
}

// Page records one page of agents received.
func (m *Metrics) Page(page, agentsSoFar int) { m.pages.Inc() }

// SyncFinished records a finished sync.
func (m *Metrics) SyncFinished(o Outcome) {
	m.runs.WithLabelValues(o.Status).Inc()
	m.runDuration.WithLabelValues(o.Status).Observe(o.Duration.Seconds())
	if o.Status != StatusSucceeded {
		return
	}
	if !o.FinishedAt.IsZero() {
		m.lastSuccess.Set(float64(o.FinishedAt.UnixNano()) / 1e9)
	}
	m.lastSeen.Set(float64(o.Seen))
	for i, n := range []int{o.Inserted, o.Changed, o.Unchanged, o.Deleted, o.Withheld, o.Rejected} {
		m.agents.WithLabelValues(agentOutcomes[i]).Add(float64(n))
	}
}

// SyncSkipped records a run that did not sync because another process held
// the tenant.
func (m *Metrics) SyncSkipped() { m.runs.WithLabelValues(StatusSkipped).Inc() }
