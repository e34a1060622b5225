package extract

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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
// normalization: it must never panic, what it hands on must be the
// elements of the body's "value" array as encoding/json reads them, and
// every record handed on must hold the invariants the loader relies on.
func FuzzDecodePage(f *testing.F) {
	addBodySeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var seen []pageElement
		var recs []scanagent.Record
		rejected := 0
		link, err := decodePage(body, func(_ int, members []member, notObject string) error {
			seen = append(seen, pageElement{slices.Clone(members), notObject != ""})
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
		if err == nil {
			checkPageAsEncodingJSONReadsIt(t, body, seen, link)
		}
		checkInvariants(t, recs)
		if err != nil && len(recs) > 0 && !json.Valid(body) {
			// A body is validated whole before any agent is handed on,
			// so a broken body hands on nothing.
			t.Fatalf("body with a syntax error handed on %d records: %v", len(recs), err)
		}
		if len(seen) != len(recs)+rejected {
			t.Fatalf("%d agents seen, %d records and %d rejected", len(seen), len(recs), rejected)
		}
	})
}

// pageElement is what decodePage handed on of one element of "value".
type pageElement struct {
	members   []member
	notObject bool
}

// checkPageAsEncodingJSONReadsIt checks what decodePage read of body
// against encoding/json: the elements of "value", each object's members
// (rebuilt into an object, they read as the element does, repeated keys
// included) and the nextLink when the body has one spelling of it.
func checkPageAsEncodingJSONReadsIt(t *testing.T, body []byte, seen []pageElement, link string) {
	t.Helper()
	std, err := standardJSON(body)
	if err != nil {
		t.Fatalf("decodePage read a body standardJSON refuses: %v", err)
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(std, &page); err != nil {
		t.Fatalf("decodePage read a page encoding/json refuses: %v", err)
	}
	var values, links []json.RawMessage
	for k, v := range page {
		switch strings.ToLower(k) {
		case "value":
			values = append(values, v)
		case "@odata.nextlink", "odata.nextlink":
			links = append(links, v)
		}
	}
	if len(values) != 1 {
		t.Fatalf("decodePage read a page with %d \"value\" members", len(values))
	}
	var elements []json.RawMessage
	if err := json.Unmarshal(values[0], &elements); err != nil {
		t.Fatalf("\"value\" is no array to encoding/json: %v", err)
	}
	if len(elements) != len(seen) {
		t.Fatalf("decodePage handed on %d elements, encoding/json reads %d", len(seen), len(elements))
	}
	for i, raw := range elements {
		isObject := bytes.TrimLeft(raw, " \t\r\n")[0] == '{'
		if seen[i].notObject == isObject {
			t.Fatalf("element %d: decodePage says not an object: %v; encoding/json reads %s", i, seen[i].notObject, raw)
		}
		if !isObject {
			continue
		}
		rebuilt := []byte("{")
		for j, m := range seen[i].members {
			if j > 0 {
				rebuilt = append(rebuilt, ',')
			}
			key, _ := json.Marshal(m.key)
			rebuilt = append(append(append(rebuilt, key...), ':'), m.value...)
		}
		rebuilt = append(rebuilt, '}')
		var want, got any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(rebuilt, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("element %d: decodePage's members read %v (%v), encoding/json reads %v", i, got, err, want)
		}
	}
	if len(links) == 1 {
		var want *string
		if err := json.Unmarshal(links[0], &want); err != nil {
			t.Fatalf("decodePage read the nextLink %s, which is no string: %v", links[0], err)
		}
		if (want == nil && link != "") || (want != nil && *want != link) {
			t.Fatalf("nextLink %q, encoding/json reads %s", link, links[0])
		}
	}
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
