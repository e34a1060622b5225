package extract

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tailscale/hujson"

	"github.com/agentsync/agentsync/scanagent"
)

// addBodySeeds seeds a fuzz target with every API body under testdata.
func addBodySeeds(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(apiTestdata, "bodies", "*"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed bodies: %v", err)
	}
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
}

// FuzzDecodePage feeds arbitrary bodies through a page's decoding and
// normalization: it must never panic, it must see the same agents as the
// reference decoder built on encoding/json, and every record handed on
// must hold the invariants the loader relies on.
func FuzzDecodePage(f *testing.F) {
	addBodySeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		type seen struct {
			members   []member
			notObject bool
		}
		var want []seen
		wantLink, wantErr := decodePageReference(body, func(_ int, members []member, notObject string) error {
			want = append(want, seen{slices.Clone(members), notObject != ""})
			return nil
		})

		var recs []scanagent.Record
		var agents, rejected int
		link, err := decodePage(body, func(_ int, members []member, notObject string) error {
			if agents >= len(want) || want[agents].notObject != (notObject != "") || !sameMembers(want[agents].members, members) {
				t.Fatalf("agent %d differs from the reference decoder's", agents)
			}
			agents++
			if notObject != "" {
				rejected++
				return nil
			}
			rec, _, reason := normalizeAgent(members)
			if reason != "" {
				rejected++
				if !storable(reason) {
					t.Fatalf("reason %q is not valid text", reason)
				}
				return nil
			}
			recs = append(recs, rec)
			return nil
		}, false)
		if (err == nil) != (wantErr == nil) || link != wantLink || (err == nil && agents != len(want)) {
			t.Fatalf("decodePage: %q, %v; reference: %q, %v", link, err, wantLink, wantErr)
		}
		checkInvariants(t, recs)
		if err != nil && len(recs) > 0 && !json.Valid(body) {
			// A body is validated whole before any agent is handed on,
			// so a broken body hands on nothing.
			t.Fatalf("body with a syntax error handed on %d records: %v", len(recs), err)
		}
		if agents != len(recs)+rejected {
			t.Fatalf("%d agents seen, %d records and %d rejected", agents, len(recs), rejected)
		}
	})
}

// FuzzNormalize builds agent objects from arbitrary keys and values (raw
// JSON when valid, else a JSON string of the text) and checks that the
// normalizer never panics and only accepts records that hold the
// invariants.
func FuzzNormalize(f *testing.F) {
	f.Add("id", `"a_1"`, "lastSeen", `"2022-05-08T12:18:41.538203Z"`, "LastSeen", `"2022-05-08 12:18:41"`)
	f.Add("Id", `"x\u0000"`, "mde_client_version", `10.8295`, "extra\xff", `{"k\u0000":"\ud800"}`)
	f.Add("ID", `null`, "id", `""`, "id", `"late"`)
	f.Add("id", `true`, "machineId", `[1,2]`, "computerDnsName", `{"a":1}`)
	f.Add("id", `"t"`, "LastCommandExecutionTimestamp", `"0001-01-01T00:00:00+01:00"`, "last_seen", `"9999-12-31T23:59:59-23:59"`)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		members := []member{{k1, rawValue(v1)}, {k2, rawValue(v2)}, {k3, rawValue(v3)}}
		rec, _, reason := normalizeAgent(members)
		if reason != "" {
			if !storable(reason) {
				t.Fatalf("reason %q is not valid text", reason)
			}
			return
		}
		checkInvariants(t, []scanagent.Record{rec})
	})
}

// sameMembers compares members as the normalizer will see them: keys with
// invalid UTF-8 are left raw by one decoder, replaced by the other, and
// cleaned the same by both.
func sameMembers(a, b []member) bool {
	return slices.EqualFunc(a, b, func(x, y member) bool {
		return cleanString(x.key) == cleanString(y.key) && bytes.Equal(x.value, y.value)
	})
}

// rawValue is v itself when it is one valid JSON value, else v as a JSON
// string, so that members always hold valid JSON as the decoder ensures.
func rawValue(v string) json.RawMessage {
	var probe json.RawMessage
	if json.Unmarshal([]byte(v), &probe) == nil {
		return probe
	}
	b, _ := json.Marshal(v)
	return b
}

// FuzzParseTimestamp checks that any text either fails to parse or gives
// a time in UTC, truncated to microseconds, within years 1 to 9999, that
// reads back the same from its RFC 3339 form.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2022-05-08T12:18:41.538203Z", "2022-12-19T20:29:04.8242449Z", "2022-05-08T12:18:41.2Z",
		"2020-12-30 11:07:15", "2020-12-30T11:07:15+00:00", "2020-12-30T13:07:15.5+02:00",
		"0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00", "", "2020-12-30t11:07:15z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := parseTimestamp(s)
		if err != nil || ts.IsZero() {
			return
		}
		if ts.Location() != time.UTC || !ts.Equal(ts.Truncate(time.Microsecond)) || ts.Year() < 1 || ts.Year() > 9999 {
			t.Fatalf("parseTimestamp(%q) = %v", s, ts)
		}
		again, err := parseTimestamp(ts.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(ts) {
			t.Fatalf("parseTimestamp(%q) = %v, which reads back as %v, %v", s, ts, again, err)
		}
	})
}

// FuzzStandardJSON checks the fast path for trailing commas against
// hujson: whatever it makes valid, hujson reads too, as the same JSON.
func FuzzStandardJSON(f *testing.F) {
	addBodySeeds(f)
	for _, s := range []string{`[1,]`, `[,]`, `{"a":[1,2,],}`, `{"a":",]"}`, `[1,,]`, `{"a":1 , }`, `["\",]",]`, `[{},]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fixed, ok := withoutTrailingCommas(body)
		if !ok || !json.Valid(fixed) {
			return
		}
		want, err := hujson.Standardize(bytes.Clone(body))
		if err != nil {
			t.Fatalf("the fast path reads %q, hujson refuses it: %v", body, err)
		}
		var a, b any
		if json.Unmarshal(fixed, &a) != nil || json.Unmarshal(want, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: the fast path gives %q, hujson %q", body, fixed, want)
		}
	})
}
