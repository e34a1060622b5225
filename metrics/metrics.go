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
	// FinishedAt is when the run ended (now when zero): the last
	// successful or failed sync time.
	FinishedAt time.Time
	// Agent counts of the run; zero for a failed run, which changed nothing.
	// HeartbeatOnly counts the known agents of which only the heartbeat
	// moved (outcome "seen"); Changed those with a changed descriptive
	// value or a return.
	Seen, Inserted, Changed, HeartbeatOnly, Unchanged, Deleted, Withheld, Rejected int
	// FieldsRepaired counts the fields stored repaired (a NUL dropped,
	// invalid UTF-8 replaced).
	FieldsRepaired int
}

// Metrics holds agentsync's collectors on a registry of their own. What
// concerns one tenant carries a tenant label: record it through
// Metrics.Tenant. The two histograms are the fleet's, without a tenant
// label, so that a deployment of a thousand tenants does not export tens of
// thousands of bucket series; agentsync_last_sync_duration_seconds gives
// each tenant's. All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	lastSuccess  *prometheus.GaugeVec
	lastFailure  *prometheus.GaugeVec
	lastSeen     *prometheus.GaugeVec
	lastDuration *prometheus.GaugeVec
	runDuration  *prometheus.HistogramVec
	runs         *prometheus.CounterVec
	agents       *prometheus.CounterVec
	apiRequests  *prometheus.CounterVec
	apiDuration  prometheus.Histogram
	throttled    *prometheus.CounterVec
	retries      *prometheus.CounterVec
	tokenFetches *prometheus.CounterVec
	pages        *prometheus.CounterVec
	repaired     *prometheus.CounterVec
}

// agentOutcomes are the values of the outcome label of agentsync_agents_total.
var agentOutcomes = []string{"inserted", "changed", "seen", "unchanged", "deleted", "withheld", "rejected"}

// RetryReasons are the values of the reason label of
// agentsync_api_retries_total: the reasons the extract package retries a
// request for (a test reads them there). Each is exported at 0 from the
// start, so that a panel of retries shows 0 rather than no data.
var RetryReasons = []string{"401", "429", "5xx", "network", "timeout"}

// New returns the collectors, registered on a new registry together with the
// Go runtime and process collectors.
func New() *Metrics {
	tenant := []string{"tenant"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentsync_last_success_timestamp_seconds",
			Help: "Unix time at which the tenant's latest successful sync by this process finished; 0 before the first.",
		}, tenant),
		lastFailure: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentsync_last_failure_timestamp_seconds",
			Help: "Unix time at which the tenant's latest failed sync by this process finished; 0 before the first. The latest sync failed when it is above agentsync_last_success_timestamp_seconds.",
		}, tenant),
		lastSeen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentsync_last_success_agents",
			Help: "Agents the tenant's latest successful sync by this process returned.",
		}, tenant),
		lastDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentsync_last_sync_duration_seconds",
			Help: "Duration of the tenant's latest sync by this process, whatever its outcome.",
		}, tenant),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agentsync_sync_duration_seconds",
			Help:    "Duration of syncs of all tenants, by how they ended.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"status"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_sync_runs_total",
			Help: "Scheduled syncs by tenant and status: succeeded, failed, or skipped because another process was syncing the tenant.",
		}, []string{"tenant", "status"}),
		agents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_agents_total",
			Help: "Agents processed by successful syncs, by tenant and outcome: inserted, changed (a descriptive value, or a return), seen (only the heartbeat moved), unchanged, deleted, withheld (deletion held back), rejected.",
		}, []string{"tenant", "outcome"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_api_requests_total",
			Help: "HTTP requests to the Defender API, by tenant and status code (\"error\" when no response came).",
		}, []string{"tenant", "code"}),
		apiDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agentsync_api_request_duration_seconds",
			Help:    "Duration of HTTP requests to the Defender API, all tenants.",
			Buckets: prometheus.DefBuckets,
		}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_api_throttled_total",
			Help: "Defender API responses with status 429 (rate limited), by tenant.",
		}, tenant),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_api_retries_total",
			Help: "Retried Defender API and token requests, by tenant and reason.",
		}, []string{"tenant", "reason"}),
		tokenFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_token_fetches_total",
			Help: "OAuth token requests, by tenant and result: success or failure.",
		}, []string{"tenant", "result"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_api_pages_total",
			Help: "Pages of agents received from the Defender API, by tenant.",
		}, tenant),
		repaired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentsync_fields_repaired_total",
			Help: "Fields of agents, scan definitions and scan history stored repaired by successful syncs, by tenant: a NUL character dropped, invalid UTF-8 replaced by U+FFFD (the log of the sync names them).",
		}, tenant),
	}
	m.reg.MustRegister(m.lastSuccess, m.lastFailure, m.lastSeen, m.lastDuration, m.runDuration, m.runs, m.agents, m.apiRequests,
		m.apiDuration, m.throttled, m.retries, m.tokenFetches, m.pages, m.repaired,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry holding the collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Tenant returns the recorder of one tenant's events, creating its series
// at zero so that rate() and alerts on them work before the first event.
// Its APIRequest, Retry, TokenFetch and Page methods make it an
// extract.Observer.
func (m *Metrics) Tenant(id string) *Tenant {
	for _, s := range []string{StatusSucceeded, StatusFailed, StatusSkipped} {
		m.runs.WithLabelValues(id, s)
	}
	for _, o := range agentOutcomes {
		m.agents.WithLabelValues(id, o)
	}
	for _, r := range []string{"success", "failure"} {
		m.tokenFetches.WithLabelValues(id, r)
	}
	for _, r := range RetryReasons {
		m.retries.WithLabelValues(id, r)
	}
	m.throttled.WithLabelValues(id)
	m.pages.WithLabelValues(id)
	m.repaired.WithLabelValues(id)
	m.lastSuccess.WithLabelValues(id)
	m.lastFailure.WithLabelValues(id)
	return &Tenant{m: m, id: id}
}

// Tenant records the events of one tenant.
type Tenant struct {
	m  *Metrics
	id string
}

// APIRequest records one HTTP request to the API; status 0 means no
// response (a transport error).
func (t *Tenant) APIRequest(status int, d time.Duration) {
	code := "error"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	t.m.apiRequests.WithLabelValues(t.id, code).Inc()
	t.m.apiDuration.Observe(d.Seconds())
	if status == 429 {
		t.m.throttled.WithLabelValues(t.id).Inc()
	}
}

// Retry records that a request will be retried, and why.
func (t *Tenant) Retry(reason string) { t.m.retries.WithLabelValues(t.id, reason).Inc() }

// TokenFetch records one token request; err is nil on success.
func (t *Tenant) TokenFetch(err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	t.m.tokenFetches.WithLabelValues(t.id, result).Inc()
}

// Page records one page of agents received.
func (t *Tenant) Page(page, agentsSoFar int) { t.m.pages.WithLabelValues(t.id).Inc() }

// SyncFinished records a finished sync of the tenant.
func (t *Tenant) SyncFinished(o Outcome) {
	m := t.m
	m.runs.WithLabelValues(t.id, o.Status).Inc()
	m.runDuration.WithLabelValues(o.Status).Observe(o.Duration.Seconds())
	m.lastDuration.WithLabelValues(t.id).Set(o.Duration.Seconds())
	finished := o.FinishedAt
	if finished.IsZero() {
		finished = time.Now()
	}
	if o.Status != StatusSucceeded {
		m.lastFailure.WithLabelValues(t.id).Set(float64(finished.UnixNano()) / 1e9)
		return
	}
	m.lastSuccess.WithLabelValues(t.id).Set(float64(finished.UnixNano()) / 1e9)
	m.lastSeen.WithLabelValues(t.id).Set(float64(o.Seen))
	for i, n := range []int{o.Inserted, o.Changed, o.HeartbeatOnly, o.Unchanged, o.Deleted, o.Withheld, o.Rejected} {
		m.agents.WithLabelValues(t.id, agentOutcomes[i]).Add(float64(n))
	}
	m.repaired.WithLabelValues(t.id).Add(float64(o.FieldsRepaired))
}

// FieldsRepaired records the fields a successful sync of another resource
// than the agents (the scan definitions, the scan history) stored
// repaired, in agentsync_fields_repaired_total with the agents'.
func (t *Tenant) FieldsRepaired(n int) { t.m.repaired.WithLabelValues(t.id).Add(float64(n)) }

// SyncSkipped records a run that did not sync because another process held
// the tenant.
func (t *Tenant) SyncSkipped() { t.m.runs.WithLabelValues(t.id, StatusSkipped).Inc() }
