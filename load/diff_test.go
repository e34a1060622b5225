package load_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
)

// TestScanAgentsDiffAgreesWithTwoAsOfCalls checks scan_agents_diff at many
// pairs of times against the difference of two scan_agents_as_of calls
// worked out here, on a history of several tenants with a failed sync,
// withheld deletions, and agents that vanish and come back.
func TestScanAgentsDiffAgreesWithTwoAsOfCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	end := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	stories := []loadtest.Story{
		{TenantID: "aaaaaaaa-0000-0000-0000-000000000001", Agents: 150, Days: 30, Seed: 3, FailDay: 9, VanishDay: 14, End: end},
		{TenantID: "Contoso.OnMicrosoft.com", Agents: 150, Days: 30, Seed: 5, FailDay: 21, VanishDay: 7, End: end.Add(-5 * time.Hour)},
		{TenantID: "cccccccc-0000-0000-0000-000000000003", Agents: 120, Days: 20, Seed: 7, End: end.Add(-40 * time.Minute)},
	}
	for _, s := range stories {
		loadtest.Sync(t, pool, s)
	}
	ref := newDiffReference(t, pool)

	// The times: every sync, just after it, just before it, before any.
	var times []time.Time
	for _, rs := range ref.runs {
		for _, r := range rs {
			times = append(times, r.fetchedAt, r.fetchedAt.Add(time.Second), r.fetchedAt.Add(-time.Second))
		}
	}
	times = append(times, end.Add(-40*24*time.Hour), end.Add(time.Hour))
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })

	rng := rand.New(rand.NewPCG(23, 2))
	kinds := map[string]int{}
	check := func(from, to time.Time, tenant string) {
		t.Helper()
		want := ref.diff(t, from, to, tenant)
		got := queryDiff(t, pool, from, to, tenant)
		if !slices.Equal(got, want) {
			t.Fatalf("scan_agents_diff(%s, %s, %q) differs from the two as_of calls:\n got: %s\nwant: %s",
				from.Format(time.RFC3339), to.Format(time.RFC3339), tenant,
				strings.Join(got, "\n      "), strings.Join(want, "\n      "))
		}
		for _, r := range got {
			kinds[strings.Split(r, "|")[2]]++
		}
	}
	for range 120 {
		a, b := times[rng.IntN(len(times))], times[rng.IntN(len(times))]
		if a.After(b) {
			a, b = b, a
		}
		tenant := ""
		if rng.IntN(3) == 0 {
			tenant = stories[rng.IntN(len(stories))].TenantID
		}
		check(a, b, tenant)
	}
	// Across the failed sync and the withheld deletions, step by step.
	day := func(s loadtest.Story, d int) time.Time {
		return s.End.Add(-time.Duration(s.Days-d) * 24 * time.Hour)
	}
	for _, s := range stories[:2] {
		for _, d := range []int{s.FailDay, s.VanishDay} {
			check(day(s, d-1), day(s, d), "")
			check(day(s, d), day(s, d+1), "")
			check(day(s, d-1), day(s, d+1), s.TenantID)
		}
	}
	check(times[0], times[len(times)-1], "")
	for _, k := range []string{"appeared", "deleted", "returned", "changed"} {
		if kinds[k] == 0 {
			t.Errorf("no pair of times showed an agent %s: %v", k, kinds)
		}
	}
	if n := len(queryDiff(t, pool, end, end, "")); n != 0 {
		t.Errorf("the fleet compared with itself: %d rows, want none", n)
	}
	t.Logf("kinds of change seen: %v", kinds)
}

// TestScanAgentsDiffRefusesFromAfterTo checks the function names the
// mistake rather than answering the other way round.
func TestScanAgentsDiffRefusesFromAfterTo(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	_, err := pool.Exec(context.Background(), `SELECT * FROM defender.scan_agents_diff($1, $2)`, at, at.Add(-time.Hour))
	if err == nil || !strings.Contains(err.Error(), "from") || !strings.Contains(err.Error(), "is after to") {
		t.Fatalf("from after to: err = %v, want one saying from is after to", err)
	}
}

// TestScanAgentsDiffIsTheReaderRoles checks defender_reader may call it.
func TestScanAgentsDiffIsTheReaderRoles(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	reader := dbtest.ReaderPool(t, url)
	var n int
	err := reader.QueryRow(context.Background(),
		`SELECT count(*) FROM defender.scan_agents_diff(now() - interval '1 day', now())`).Scan(&n)
	if err != nil {
		t.Fatalf("defender_reader calls scan_agents_diff: %v", err)
	}
}

type diffRun struct {
	runID     int64
	fetchedAt time.Time
}

// diffReference works the difference out from scan_agents_as_of alone.
type diffReference struct {
	pool *pgxpool.Pool
	runs map[string][]diffRun // succeeded agents syncs per tenant, oldest first
	asOf map[time.Time]map[string]map[string]asOfAgent
}

type asOfAgent struct {
	values    []string // the descriptive columns, in the function's order
	runID     int64
	fetchedAt time.Time
}

var diffColumns = []string{"machine_id", "computer_dns_name", "assigned_application_id",
	"scanner_software_version", "mde_client_version", "extra"}

func newDiffReference(t *testing.T, pool *pgxpool.Pool) *diffReference {
	t.Helper()
	ref := &diffReference{pool: pool, runs: map[string][]diffRun{}, asOf: map[time.Time]map[string]map[string]asOfAgent{}}
	rows, err := pool.Query(context.Background(), `
		SELECT tenant_id, run_id, fetched_at FROM defender.sync_runs
		 WHERE resource = 'agents' AND status = 'succeeded' ORDER BY fetched_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tenant string
		var r diffRun
		if err := rows.Scan(&tenant, &r.runID, &r.fetchedAt); err != nil {
			t.Fatal(err)
		}
		ref.runs[tenant] = append(ref.runs[tenant], r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ref
}

// fleet is scan_agents_as_of(at), by tenant and agent.
func (ref *diffReference) fleet(t *testing.T, at time.Time) map[string]map[string]asOfAgent {
	t.Helper()
	if f, ok := ref.asOf[at]; ok {
		return f
	}
	rows, err := ref.pool.Query(context.Background(), `
		SELECT tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
		       scanner_software_version, mde_client_version, extra, as_of_run_id, as_of_fetched_at
		  FROM defender.scan_agents_as_of($1)`, at)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	f := map[string]map[string]asOfAgent{}
	for rows.Next() {
		var tenant, id string
		var machine, dns, app, scanner, mde *string
		var extra []byte
		var a asOfAgent
		if err := rows.Scan(&tenant, &id, &machine, &dns, &app, &scanner, &mde, &extra, &a.runID, &a.fetchedAt); err != nil {
			t.Fatal(err)
		}
		a.values = []string{nullable(machine), nullable(dns), nullable(app), nullable(scanner), nullable(mde), canonicalJSON(t, extra)}
		if f[tenant] == nil {
			f[tenant] = map[string]asOfAgent{}
		}
		f[tenant][id] = a
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	ref.asOf[at] = f
	return f
}

// syncAt is the tenant's last successful agents sync at or before at.
func (ref *diffReference) syncAt(tenant string, at time.Time) (diffRun, bool) {
	var last diffRun
	found := false
	for _, r := range ref.runs[tenant] {
		if r.fetchedAt.After(at) {
			break
		}
		last, found = r, true
	}
	return last, found
}

// diff renders the expected rows of scan_agents_diff(from, to, tenant).
func (ref *diffReference) diff(t *testing.T, from, to time.Time, tenant string) []string {
	t.Helper()
	before, after := ref.fleet(t, from), ref.fleet(t, to)
	var out []string
	for id := range ref.runs {
		if tenant != "" && id != strings.ToLower(tenant) {
			continue
		}
		fromRun, hasFrom := ref.syncAt(id, from)
		toRun, hasTo := ref.syncAt(id, to)
		syncs := []string{"∅", "∅", "∅", "∅"}
		if hasFrom {
			syncs[0], syncs[1] = fmt.Sprint(fromRun.runID), stamp(fromRun.fetchedAt)
		}
		if hasTo {
			syncs[2], syncs[3] = fmt.Sprint(toRun.runID), stamp(toRun.fetchedAt)
		}
		// Seen by any sync at or before the one from reflects.
		seenBefore := map[string]bool{}
		if hasFrom {
			for _, r := range ref.runs[id] {
				if r.fetchedAt.After(fromRun.fetchedAt) {
					break
				}
				for agent := range ref.fleet(t, r.fetchedAt)[id] {
					seenBefore[agent] = true
				}
			}
		}
		agents := map[string]bool{}
		for a := range before[id] {
			agents[a] = true
		}
		for a := range after[id] {
			agents[a] = true
		}
		for agent := range agents {
			o, was := before[id][agent]
			n, is := after[id][agent]
			// The rows each side come from the sync found above.
			if was && (o.runID != fromRun.runID || !o.fetchedAt.Equal(fromRun.fetchedAt)) ||
				is && (n.runID != toRun.runID || !n.fetchedAt.Equal(toRun.fetchedAt)) {
				t.Fatalf("as_of rows of tenant %s do not come from its last sync", id)
			}
			var change string
			var changed []string
			switch {
			case was && is:
				for i, c := range diffColumns {
					if o.values[i] != n.values[i] {
						changed = append(changed, c)
					}
				}
				if len(changed) == 0 {
					continue
				}
				change = "changed"
			case was:
				change = "deleted"
			case seenBefore[agent]:
				change = "returned"
			default:
				change = "appeared"
			}
			old, cur := o.values, n.values
			if !was {
				old = []string{"∅", "∅", "∅", "∅", "∅", "∅"}
			}
			if !is {
				cur = []string{"∅", "∅", "∅", "∅", "∅", "∅"}
			}
			fields := []string{id, agent, change, strings.Join(changed, ",")}
			for i := range diffColumns {
				fields = append(fields, old[i], cur[i])
			}
			out = append(out, strings.Join(append(fields, syncs...), "|"))
		}
	}
	slices.Sort(out)
	return out
}

// queryDiff renders the rows of scan_agents_diff as diff does.
func queryDiff(t *testing.T, pool *pgxpool.Pool, from, to time.Time, tenant string) []string {
	t.Helper()
	var tenantArg any
	if tenant != "" {
		tenantArg = tenant
	}
	rows, err := pool.Query(context.Background(), `SELECT * FROM defender.scan_agents_diff($1, $2, $3)`, from, to, tenantArg)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var tenantID, agent, change string
		var changed []string
		var vals [10]*string
		var oldExtra, newExtra []byte
		var fromRun, toRun *int64
		var fromAt, toAt *time.Time
		if err := rows.Scan(&tenantID, &agent, &change, &changed,
			&vals[0], &vals[1], &vals[2], &vals[3], &vals[4], &vals[5], &vals[6], &vals[7], &vals[8], &vals[9],
			&oldExtra, &newExtra, &fromRun, &fromAt, &toRun, &toAt); err != nil {
			t.Fatal(err)
		}
		fields := []string{tenantID, agent, change, strings.Join(changed, ",")}
		for _, v := range vals {
			fields = append(fields, nullable(v))
		}
		fields = append(fields, nullJSON(t, oldExtra), nullJSON(t, newExtra))
		fields = append(fields, nullInt(fromRun), nullTime(fromAt), nullInt(toRun), nullTime(toAt))
		out = append(out, strings.Join(fields, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func nullable(s *string) string {
	if s == nil {
		return "∅"
	}
	return *s
}

func nullInt(p *int64) string {
	if p == nil {
		return "∅"
	}
	return fmt.Sprint(*p)
}

func nullTime(p *time.Time) string {
	if p == nil {
		return "∅"
	}
	return stamp(*p)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func nullJSON(t *testing.T, b []byte) string {
	if b == nil {
		return "∅"
	}
	return canonicalJSON(t, b)
}

func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// TestScanAgentsAsOfOfOneTenant: scan_agents_as_of given a tenant (any
// case) answers what the same call without it says of that tenant, as a
// member of defender_reader and as a role given one tenant, which gets
// nothing of another tenant by naming it.
func TestScanAgentsAsOfOfOneTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	pool, url := f.pool, f.url
	end := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	stories := []loadtest.Story{
		{TenantID: "aaaaaaaa-0000-0000-0000-000000000001", Agents: 30, Days: 6, Seed: 3, FailDay: 2, VanishDay: 4, End: end},
		{TenantID: "Contoso.OnMicrosoft.com", Agents: 30, Days: 6, Seed: 5, End: end.Add(-5 * time.Hour)},
	}
	for _, s := range stories {
		loadtest.Sync(t, pool, s)
	}
	if _, err := pool.Exec(ctx, `SELECT defender.grant_tenant_access($1, 'contoso.onmicrosoft.com')`, dbtest.TenantReaderRole); err != nil {
		t.Fatal(err)
	}
	reader, customer := dbtest.ReaderPool(t, url), dbtest.TenantReaderPool(t, url)
	for _, at := range []time.Time{end.Add(-7 * 24 * time.Hour), end.Add(-4 * 24 * time.Hour), end.Add(-30 * time.Hour), end.Add(-time.Minute), end} {
		for _, asked := range []string{"Contoso.OnMicrosoft.com", "contoso.onmicrosoft.com", "aaaaaaaa-0000-0000-0000-000000000001", "no.such.tenant"} {
			for who, p := range map[string]*pgxpool.Pool{"defender_reader": reader, "the role given contoso": customer} {
				q := fmt.Sprintf(`SELECT * FROM defender.scan_agents_as_of('%s', '%s') ORDER BY agent_id`, at.Format(time.RFC3339), asked)
				want := fmt.Sprintf(`SELECT * FROM defender.scan_agents_as_of('%s') WHERE tenant_id = lower('%s') ORDER BY agent_id`, at.Format(time.RFC3339), asked)
				if got, w := dbtest.Answer(t, p, q), dbtest.Answer(t, p, want); got != w {
					t.Errorf("as %s, scan_agents_as_of(%s, %q):\n%s\nwant:\n%s", who, at.Format(time.RFC3339), asked, got, w)
				}
			}
		}
	}
	count := func(p *pgxpool.Pool, tenant string) int {
		var n int
		if err := p.QueryRow(ctx, `SELECT count(*) FROM defender.scan_agents_as_of($1, $2)`, end, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(customer, "aaaaaaaa-0000-0000-0000-000000000001"); n != 0 {
		t.Errorf("the role given contoso reads %d agents of another tenant by naming it", n)
	}
	if n := count(reader, "contoso.onmicrosoft.com"); n < 10 {
		t.Errorf("scan_agents_as_of of contoso at the end answers %d agents: the fixture is too thin", n)
	}
}
