package extract

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/scanagent"
)

// addScanSeeds seeds a fuzz target with the scan bodies under testdata and
// a simulated page of each endpoint.
func addScanSeeds(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(scanTestdata, "bodies", "*.json"))
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
	defs, _ := defendertest.CanaryDefinitions(defendertest.Agent{ID: "a_1"})
	f.Add(defendertest.RenderDefinitions("", defs, defendertest.CasingMixed, ""))
	fleet := defendertest.NewFleet(3, 40, fleetStart)
	at := fleetStart.Add(10 * 24 * time.Hour)
	var ids []string
	for _, d := range fleet.DefinitionsAt(at) {
		ids = append(ids, d.ID)
	}
	sessions := fleet.SessionsAt(at, ids)[:10]
	f.Add(defendertest.RenderHistory("", defendertest.HistoryBySessionPath, sessions, defendertest.CasingVendor, true, true, "org", ""))
	f.Add(defendertest.RenderHistory("", defendertest.HistoryByDefinitionPath, sessions, defendertest.CasingMixed, false, true, "", "next"))
}

// FuzzDecodeDefinitions feeds arbitrary bodies through the definitions
// listing's decoding: it must never panic, every definition handed on
// must be storable, and what it keeps must not depend on any credential:
// the same element with every field of scanAuthenticationParams but the
// variant and the type removed gives the same record, reason and notes.
func FuzzDecodeDefinitions(f *testing.F) {
	addScanSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodePage(body, func(_ int, members []member, notObject string) error {
			if notObject != "" {
				if !storable(notObject) {
					t.Fatalf("reason %q is not valid text", notObject)
				}
				return nil
			}
			def, n := normalizeDefinition(members)
			stripped, _ := normalizeDefinitionWithoutCredentials(members)
			a, _ := json.Marshal(struct {
				D scanagent.ScanDefinition
				N normalized
			}{def, n})
			b, _ := json.Marshal(struct {
				D scanagent.ScanDefinition
				N normalized
			}{stripped, n})
			if !bytes.Equal(a, b) {
				t.Fatalf("the record depends on credential fields:\n%s\n%s", a, b)
			}
			if n.reason != "" {
				if !storable(n.reason) {
					t.Fatalf("reason %q is not valid text", n.reason)
				}
				return nil
			}
			if def.ID == "" {
				t.Fatal("a definition without id was handed on")
			}
			for _, s := range []string{def.ID, def.Name, def.ScanType, def.Target, def.TargetType, def.ScannerAgentID, def.AuthVariant, def.AuthType, def.CreatedBy} {
				if !storable(s) {
					t.Fatalf("field %q is not storable", s)
				}
			}
			for _, v := range def.Extra {
				if !json.Valid(v) || !utf8.Valid(v) {
					t.Fatalf("extra value %q is not valid JSON", v)
				}
			}
			return nil
		}, true)
	})
}

// normalizeDefinitionWithoutCredentials normalizes members with every
// member of scanAuthenticationParams but its variant and type replaced by
// a constant.
func normalizeDefinitionWithoutCredentials(members []member) (scanagent.ScanDefinition, normalized) {
	out := make([]member, len(members))
	for i, m := range members {
		out[i] = m
		if canonicalKey(m.key) != canonicalKey(defAuth) || m.value[0] != '{' {
			if canonicalKey(m.key) == canonicalKey(defAuth) && m.value[0] != 'n' {
				out[i].value = json.RawMessage(`"x"`)
			}
			continue
		}
		var b bytes.Buffer
		b.WriteByte('{')
		for j, am := range objectMembers(m.value) {
			if j > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(am.key)
			b.Write(k)
			b.WriteByte(':')
			switch canonicalKey(am.key) {
			case "@odata.type", "odata.type", "$type", "@type", "type", "authtype":
				b.Write(am.value)
			default:
				b.WriteString(`"x"`)
			}
		}
		b.WriteByte('}')
		out[i].value = b.Bytes()
	}
	return normalizeDefinition(out)
}

// FuzzDecodeSessions feeds arbitrary bodies through a history reading: it
// must never panic, and every session handed on must have a definition
// id, storable text, times in UTC at microseconds, and durations within
// range.
func FuzzDecodeSessions(f *testing.F) {
	addScanSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodePage(body, func(_ int, members []member, notObject string) error {
			if notObject != "" {
				return nil
			}
			s, n := normalizeSession(members)
			if n.reason != "" {
				if !storable(n.reason) {
					t.Fatalf("reason %q is not valid text", n.reason)
				}
				return nil
			}
			if s.DefinitionID == "" {
				t.Fatal("a session without definition id was handed on")
			}
			if !s.ScannedAt.IsZero() && (s.ScannedAt.Location() != time.UTC || !s.ScannedAt.Equal(s.ScannedAt.Truncate(time.Microsecond))) {
				t.Fatalf("scanned at %v", s.ScannedAt)
			}
			texts := []string{s.DefinitionID, s.SessionID, s.ScannerID, s.Status, s.GeneralError}
			for _, tg := range s.ScannedTargets {
				texts = append(texts, tg.IP, tg.Hostname, tg.Description, tg.Status, tg.ErrorMessage)
				if tg.Duration != nil && (*tg.Duration < 0 || time.Duration(*tg.Duration) > maxScanDuration ||
					time.Duration(*tg.Duration)%time.Microsecond != 0) {
					t.Fatalf("duration %v", time.Duration(*tg.Duration))
				}
			}
			for _, x := range texts {
				if !storable(x) {
					t.Fatalf("text %q is not storable", x)
				}
			}
			if !s.TargetsReported && len(s.ScannedTargets) > 0 {
				t.Fatal("targets without TargetsReported")
			}
			return nil
		}, false)
	})
}

// FuzzParseScanDuration: any text either fails or gives a duration within
// range, at microseconds.
func FuzzParseScanDuration(f *testing.F) {
	for _, s := range []string{"00:08:30", "1.02:03:04.5", "PT1M30S", "P1DT2H3M4.5S", "23:59:59.9999999", "99999999.00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseScanDuration(s)
		if err != nil {
			return
		}
		if d < 0 || d > maxScanDuration || d%time.Microsecond != 0 {
			t.Fatalf("parseScanDuration(%q) = %v", s, d)
		}
	})
}
