package load

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestDecodeSlots: a heartbeat array in PostgreSQL's binary format decodes
// slot by slot, empty slots included; anything but 64 timestamps from
// index 1 is refused with what was wrong.
func TestDecodeSlots(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	encode := func(values []pgtype.Timestamptz, lower int32) []byte {
		t.Helper()
		arr := pgtype.Array[pgtype.Timestamptz]{
			Elements: values,
			Dims:     []pgtype.ArrayDimension{{Length: int32(len(values)), LowerBound: lower}},
			Valid:    true,
		}
		buf, err := pgtype.NewMap().Encode(pgtype.TimestamptzArrayOID, pgtype.BinaryFormatCode, arr, nil)
		if err != nil {
			t.Fatal(err)
		}
		return buf
	}
	full := make([]pgtype.Timestamptz, blockSize)
	full[5] = pgtype.Timestamptz{Time: at, Valid: true}

	var got [blockSize]int64
	if err := decodeSlots(encode(full, 1), &got); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		want := int64(noTime)
		if i == 5 {
			want = at.UnixMicro()
		}
		if v != want {
			t.Fatalf("slot %d = %d, want %d", i, v, want)
		}
	}

	good := encode(full, 1)
	for name, tc := range map[string]struct {
		v    []byte
		want string
	}{
		"63 slots":           {encode(full[:63], 1), "not an array of 64 timestamps"},
		"from index 0":       {encode(full, 0), "not an array of 64 timestamps"},
		"cut short":          {good[:len(good)-4], "array ends at element"},
		"trailing bytes":     {append(append([]byte{}, good...), 0), "bytes after the last element"},
		"no header":          {good[:12], "array of 12 bytes"},
		"element of 4 bytes": {append(append([]byte{}, good[:20]...), 0, 0, 0, 4, 0, 0, 0, 0), "element 1 of 4 bytes"},
	} {
		if err := decodeSlots(tc.v, &got); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
