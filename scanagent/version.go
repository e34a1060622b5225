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
// Numeric versions compare part by part as numbers; trailing zero parts do
// not count ("7.6.0" equals "7.6.0.0"), as in defender.version_key.
// Versions that are not numeric sort after numeric ones and among
// themselves as strings, so the order is total.
func (v Version) Compare(w Version) int {
	vp, vok := v.Parts()
	wp, wok := w.Parts()
	vp, wp = trimZeros(vp), trimZeros(wp)
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

// trimZeros drops trailing zero parts.
func trimZeros(parts []uint64) []uint64 {
	for len(parts) > 1 && parts[len(parts)-1] == 0 {
		parts = parts[:len(parts)-1]
	}
	return parts
}
