// Package idset remembers the ids of one listing in little memory, to tell
// the ids listed more than once.
package idset

import "hash/maphash"

// Set keeps a 64-bit hash of each id, not the id: an id is often a slice of
// its page's body, and keeping it would keep every page of the listing in
// memory (a tenant of a million agents would hold all of its bodies). Two
// ids hash alike with a probability of about n²/2⁶⁵ (3·10⁻⁸ for a million
// ids): a caller that must be exact treats a repeat as "may repeat" and
// checks.
type Set struct {
	seed   maphash.Seed
	hashes map[uint64]struct{}
}

// New returns an empty set.
func New() Set {
	return Set{seed: maphash.MakeSeed(), hashes: make(map[uint64]struct{})}
}

// Add records id and reports whether it (or, rarely, an id of the same
// hash) was recorded before.
func (s Set) Add(id string) (seenBefore bool) {
	h := maphash.String(s.seed, id)
	if _, ok := s.hashes[h]; ok {
		return true
	}
	s.hashes[h] = struct{}{}
	return false
}
