package scanagent

import (
	"strconv"
	"strings"
)

// Version is a dotted version string as the API sent it, such as
// "10.8295.22621.1195" or "7.1.1". It orders numerically part by part, so
// "10.8295.22621.1010" < "10.8295.22621.1195" < "10.10000.0.0".
type Version string

// Parts returns the numeric parts of v, or ok=false when v is not a dotted
// sequence of decimal numbers (each fitting in a uint64).
func (v Version) Parts() (parts []uint64, ok bool) {
	if v == "" {
		return nil, false
	}
	fields := strings.Split(string(v), ".")
	parts = make([]uint64, len(fields))
	for i, f := range fields {
		if f == "" || strings.TrimLeft(f, "0123456789") != "" {
			return nil, false
		}
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, false
		}
		parts[i] = n
	}
	return parts, true
}

// Compare orders two versions: -1 when v < w, 0 when equal, +1 when v > w.
// Numeric versions compare part by part, a missing part counting as less
// than any present one ("7.1.1" < "7.1.1.0"). Versions that are not numeric
// sort after numeric ones and among themselves as strings, so the order is
// total and stable.
func (v Version) Compare(w Version) int {
	vp, vok := v.Parts()
	wp, wok := w.Parts()
	switch {
	case vok && !wok:
		return -1
	case !vok && wok:
		return 1
	case !vok && !wok:
		return strings.Compare(string(v), string(w))
	}
	for i := 0; i < len(vp) && i < len(wp); i++ {
		if vp[i] != wp[i] {
			if vp[i] < wp[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(vp) < len(wp):
		return -1
	case len(vp) > len(wp):
		return 1
	}
	return 0
}
