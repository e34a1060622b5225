package extract

import "hash/maphash"

// idSet remembers the ids of one listing to count those listed twice. It
// keeps a 64-bit hash of each id, not the id: an id is a slice of its page's
// body, and keeping it would keep every page of the listing in memory (a
// tenant of a million agents would hold all of its bodies). Two ids hash
// alike with a probability of about n²/2⁶⁵ (3·10⁻⁸ for a million ids); the
// cost would be one duplicate counted and logged that was not one, as the
// set serves only that count.
type idSet struct {
	seed   maphash.Seed
	hashes map[uint64]struct{}
}

func newIDSet() idSet {
	return idSet{seed: maphash.MakeSeed(), hashes: make(map[uint64]struct{})}
}

// add records id and reports whether it was recorded before.
func (s idSet) add(id string) (seenBefore bool) {
	h := maphash.String(s.seed, id)
	if _, ok := s.hashes[h]; ok {
		return true
	}
	s.hashes[h] = struct{}{}
	return false
}
