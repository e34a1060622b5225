package report

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// versionKey is defender.version_key in Go: the parts of a dotted version
// as numbers (written without leading zeros), trailing zero parts
// dropped, so that 7.6.0 and 7.6 are one version; nil when the version is
// not dotted numbers.
func versionKey(v string) []string {
	parts := strings.Split(v, ".")
	for i, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return nil
		}
		if parts[i] = strings.TrimLeft(p, "0"); parts[i] == "" {
			parts[i] = "0"
		}
	}
	for len(parts) > 1 && parts[len(parts)-1] == "0" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// compareVersions orders versions as ORDER BY defender.version_key(v)
// NULLS FIRST, v does: those not dotted numbers first, then by their
// parts as numbers.
func compareVersions(a, b string) int {
	ka, kb := versionKey(a), versionKey(b)
	switch {
	case ka == nil && kb == nil:
		return strings.Compare(a, b)
	case ka == nil:
		return -1
	case kb == nil:
		return 1
	}
	for i := range min(len(ka), len(kb)) {
		if c := cmp.Or(cmp.Compare(len(ka[i]), len(kb[i])), strings.Compare(ka[i], kb[i])); c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(len(ka), len(kb)), strings.Compare(a, b))
}

// sortVersions sets s.Versions to every Defender client version of the
// tenants' days, oldest first, and each tenant's Versions to its own, in
// the same order.
func sortVersions(s *Snapshot) {
	all := map[string]bool{}
	for _, t := range s.Tenants {
		for _, d := range t.Days {
			for v := range d.Versions {
				all[v] = true
			}
		}
	}
	s.Versions = slices.SortedFunc(maps.Keys(all), compareVersions)
	for i := range s.Tenants {
		t := &s.Tenants[i]
		t.Versions = nil
		for _, v := range s.Versions {
			for _, d := range t.Days {
				if _, ok := d.Versions[v]; ok {
					t.Versions = append(t.Versions, v)
					break
				}
			}
		}
	}
}
