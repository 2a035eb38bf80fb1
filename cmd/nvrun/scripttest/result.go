package scripttest

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/nvrun/nvrun/runtime"
)

// resultValue is what plan() and apply() return: the run's record as Starlark values.
//
//	.changes   [struct(address, action, diff, summary, notes, position, status)]
//	.warnings  [string]
//	.error     None, or the message of the failed run
//	.steps     [struct(number, title, position, changes)]
//	.summary   struct(create, update, delete, call, read, unchanged)
//	.change(address)   the first change with that address (fails naming the others)
//
// clean rewrites every text of the record (the run's temporary directory out).
func resultValue(res *runtime.Result, errMsg string, clean func(string) string) starlark.Value {
	if res == nil {
		res = &runtime.Result{} // the run failed before its first record
	}
	all := make([]starlark.Value, len(res.Records))
	byStep := map[int][]starlark.Value{}
	counts := map[string]int{}
	for i, rec := range res.Records {
		c := changeValue(rec, clean)
		all[i] = c
		byStep[rec.Step] = append(byStep[rec.Step], c)
		counts[actionOf(rec)]++
	}
	steps := make([]starlark.Value, len(res.Steps))
	for i, s := range res.Steps {
		steps[i] = structOf(starlark.StringDict{
			"number":   starlark.MakeInt(s.Number),
			"title":    starlark.String(s.Title),
			"position": starlark.String(s.Pos),
			"changes":  starlark.NewList(byStep[s.Number]),
		})
	}
	warnings := make([]starlark.Value, len(res.Warnings))
	for i, w := range res.Warnings {
		warnings[i] = starlark.String(clean(w))
	}
	var errVal starlark.Value = starlark.None
	if errMsg != "" {
		errVal = starlark.String(clean(errMsg))
	}
	summary := starlark.StringDict{}
	for _, a := range []runtime.Action{runtime.Create, runtime.Update, runtime.Delete, runtime.Call, runtime.Read, runtime.Unchanged} {
		summary[string(a)] = starlark.MakeInt(counts[string(a)])
	}
	changes := starlark.NewList(all)
	changes.Freeze()
	return structOf(starlark.StringDict{
		"changes":  changes,
		"warnings": starlark.NewList(warnings),
		"error":    errVal,
		"steps":    starlark.NewList(steps),
		"summary":  structOf(summary),
		"change":   starlark.NewBuiltin("change", changeByAddress(res.Records, all)),
	})
}

// actionOf is a record's action as the test API names it: a change the live state
// already matches is "unchanged", whatever the builtin would have done.
func actionOf(rec *runtime.Record) string {
	if rec.Status == "unchanged" {
		return string(runtime.Unchanged)
	}
	return string(rec.Action)
}

func changeValue(rec *runtime.Record, clean func(string) string) starlark.Value {
	diff := make([]starlark.Value, len(rec.Diff))
	for i, d := range rec.Diff {
		diff[i] = structOf(starlark.StringDict{
			"op":     starlark.String(d.Op),
			"key":    starlark.String(clean(d.Key)),
			"before": starlark.String(clean(d.Before)),
			"after":  starlark.String(clean(d.After)),
		})
	}
	notes := make([]starlark.Value, len(rec.Notes))
	for i, n := range rec.Notes {
		notes[i] = starlark.String(clean(n))
	}
	return structOf(starlark.StringDict{
		"address":  starlark.String(rec.Address),
		"action":   starlark.String(actionOf(rec)),
		"diff":     starlark.NewList(diff),
		"summary":  starlark.String(clean(rec.Summary)),
		"notes":    starlark.NewList(notes),
		"position": starlark.String(rec.Position),
		"status":   starlark.String(rec.Status),
	})
}

func changeByAddress(recs []*runtime.Record, vals []starlark.Value) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var addr string
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "address", &addr); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var names []string
		for i, r := range recs {
			if r.Address == addr {
				return vals[i], nil
			}
			if !seen[r.Address] {
				seen[r.Address] = true
				names = append(names, r.Address)
			}
		}
		sort.Strings(names)
		return nil, fmt.Errorf("change: no change with address %s; the run has:\n  %s", addr, strings.Join(names, "\n  "))
	}
}

func structOf(fields starlark.StringDict) *starlarkstruct.Struct {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, fields)
}
