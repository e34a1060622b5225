package scanagent

import (
	"log/slog"
	"slices"
)

// MaxRepairNames bounds the field names and the record ids ListStats
// keeps of its repairs: a tenant whose every record needs one still logs
// one short line.
const MaxRepairNames = 20

// AddRepairs adds the repairs of another reading of the same run to st:
// their counts add up, and a name or a record id both name is kept once.
func (st *ListStats) AddRepairs(o ListStats) {
	st.FieldsRepaired += o.FieldsRepaired
	for _, name := range o.RepairedFields {
		if i, found := slices.BinarySearch(st.RepairedFields, name); !found && len(st.RepairedFields) < MaxRepairNames {
			st.RepairedFields = slices.Insert(st.RepairedFields, i, name)
		}
	}
	for _, id := range o.RepairedIDs {
		if !slices.Contains(st.RepairedIDs, id) && len(st.RepairedIDs) < MaxRepairNames {
			st.RepairedIDs = append(st.RepairedIDs, id)
		}
	}
}

// LogRepairs writes the one line of a run about the fields it repaired,
// if any: how many, their names and the records they belong to (the
// first MaxRepairNames of each), never the values. what names the
// resource; attrs are added to the line.
func (st ListStats) LogRepairs(log *slog.Logger, what string, attrs ...any) {
	if st.FieldsRepaired == 0 {
		return
	}
	log.Warn(what+": repaired fields PostgreSQL cannot store as sent (NUL characters dropped, invalid UTF-8 replaced by U+FFFD); the repaired values are stored",
		append(attrs, "fields_repaired", st.FieldsRepaired, "fields", st.RepairedFields, "ids", st.RepairedIDs)...)
}
