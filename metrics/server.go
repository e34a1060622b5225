package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyFunc reports whether the process can do its job: a nil error when
// ready, with notes served after "ready" (such as the tenants whose latest
// sync failed while others' succeeded), else an error whose text says why
// not. What it returns is served to anyone who can reach /readyz, so it
// must carry no secret.
type ReadyFunc func(ctx context.Context) (notes []string, err error)

// readyTimeout bounds one readiness check, well below the usual probe
// timeouts, so that a hanging database answers 503 rather than nothing.
const readyTimeout = 3 * time.Second

// ReadyMaxAge is how old a readiness result /readyz may answer with. A
// check runs a query per tenant; without it, anyone who can reach the
// port could make the database run them as fast as they can ask.
const ReadyMaxAge = 5 * time.Second

// Handler serves /metrics from m's registry, /healthz (200 while the process
// serves HTTP at all) and /readyz (200 when ready reports no error, with
// its notes, else 503 with the reason). /readyz answers from a result at
// most ReadyMaxAge old: ready runs at most once in that time, and
// requests that arrive while it runs share its result.
func (m *Metrics) Handler(ready ReadyFunc) http.Handler {
	return m.handler(&readyCache{ready: ready, maxAge: ReadyMaxAge, now: time.Now})
}

func (m *Metrics) handler(ready *readyCache) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		notes, err := ready.get(r.Context())
		if err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	})
	return mux
}

// readyCache runs a ReadyFunc at most once per maxAge, each run shared by
// every request that arrives while it runs.
type readyCache struct {
	ready  ReadyFunc
	maxAge time.Duration
	now    func() time.Time

	mu       sync.Mutex
	at       time.Time // when the result below was read; zero before the first
	notes    []string
	err      error
	inflight chan struct{} // closed when the running check ends; nil when none runs
}

// get returns a result at most maxAge old, running the check when there
// is none. The check runs under a context of its own, bounded by
// readyTimeout: a client going away does not fail the others waiting.
func (c *readyCache) get(ctx context.Context) ([]string, error) {
	c.mu.Lock()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.maxAge {
		defer c.mu.Unlock()
		return c.notes, c.err
	}
	if c.inflight == nil {
		done := make(chan struct{})
		c.inflight = done
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			notes, err := c.ready(cctx)
			c.mu.Lock()
			c.at, c.notes, c.err, c.inflight = c.now(), notes, err, nil
			c.mu.Unlock()
			close(done)
		}()
	}
	done := c.inflight
	c.mu.Unlock()
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.notes, c.err
	case <-ctx.Done():
		return nil, errors.New("the readiness check did not finish in time")
	}
}

// Serve serves h on ln until ctx is done, then shuts the server down. It
// returns nil after a shutdown asked for through ctx.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("metrics server shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}
