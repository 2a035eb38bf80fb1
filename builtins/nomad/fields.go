package nomad

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/nvrun/nvrun/runtime"
)

// fields are the arguments of a job spec builder, or the keys of a dict block such as
// restart = {...}. Names follow the HCL jobspec; a name we do not know is an error with
// a did-you-mean, because a silently ignored typo in a job spec ships a wrong job.
type fields struct {
	where string // "nomad.task", "nomad.group restart"
	vals  map[string]starlark.Value
	taint *taint
}

// taint records what a spec value carries besides plain data: secrets (whose plain
// text must never be rendered) and unknowns (values only apply can know).
type taint struct {
	secrets       map[string]bool // plain text of every Secret in the spec
	sensitiveKeys map[string]bool // env/meta/config keys whose value is a Secret
	unknowns      []string        // what was unknown, for the plan note
}

func newTaint() *taint { return &taint{secrets: map[string]bool{}, sensitiveKeys: map[string]bool{}} }

func (t *taint) merge(o *taint) {
	if o == nil {
		return
	}
	for k := range o.secrets {
		t.secrets[k] = true
	}
	for k := range o.sensitiveKeys {
		t.sensitiveKeys[k] = true
	}
	t.unknowns = append(t.unknowns, o.unknowns...)
}

// isSecret says whether a rendered string is, or contains, a secret's plain text.
func (t *taint) isSecret(s string) bool {
	if t == nil || s == "" {
		return false
	}
	if t.secrets[s] {
		return true
	}
	for sec := range t.secrets {
		if len(sec) >= 4 && strings.Contains(s, sec) {
			return true
		}
	}
	return false
}

// parseFields binds positional arguments to the first names in positional, and keyword
// arguments to any allowed name. None means "not set".
func parseFields(where string, args starlark.Tuple, kwargs []starlark.Tuple, positional, allowed []string, t *taint) (*fields, error) {
	f := &fields{where: where, vals: map[string]starlark.Value{}, taint: t}
	if len(args) > len(positional) {
		return nil, fmt.Errorf("%s: got %d positional arguments, want at most %d (%s); pass the rest by name",
			where, len(args), len(positional), strings.Join(positional, ", "))
	}
	for i, a := range args {
		f.vals[positional[i]] = a
	}
	known := map[string]bool{}
	for _, n := range allowed {
		known[n] = true
	}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		if !known[name] {
			return nil, unknownField(where, name, allowed)
		}
		if _, dup := f.vals[name]; dup {
			return nil, fmt.Errorf("%s: field %q given twice", where, name)
		}
		f.vals[name] = kv[1]
	}
	return f, nil
}

// dictFields validates a dict block (restart = {...}) the same way as builder arguments.
func dictFields(where string, v starlark.Value, allowed []string, t *taint) (*fields, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: want a dict of %s, not %s", where, strings.Join(allowed, ", "), v.Type())
	}
	var kwargs []starlark.Tuple
	for _, it := range d.Items() {
		k, ok := it[0].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("%s: key %s is not a string", where, it[0])
		}
		kwargs = append(kwargs, starlark.Tuple{k, it[1]})
	}
	return parseFields(where, nil, kwargs, nil, allowed, t)
}

func unknownField(where, name string, allowed []string) error {
	msg := fmt.Sprintf("%s: unknown field %q", where, name)
	if near := nearest(name, allowed); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	return fmt.Errorf("%s; fields are: %s", msg, strings.Join(sorted, ", "))
}

// nearest is the allowed name closest to name, if it is close enough to be a typo: a
// small edit, the HCL block name used for a list field ("template" for "templates"), a
// prefix ("dest"), or the JSON API's name for the field ("MemoryMB").
func nearest(name string, allowed []string) string {
	lower := strings.ToLower(name)
	if a, ok := apiNames[strings.ReplaceAll(lower, "_", "")]; ok && slices.Contains(allowed, a) {
		return a
	}
	for _, a := range allowed {
		if a == lower || a == lower+"s" || a == lower+"es" || (strings.HasSuffix(lower, "y") && a == lower[:len(lower)-1]+"ies") {
			return a
		}
	}
	best, bestD := "", 1<<30
	for _, a := range allowed {
		if d := editDistance(lower, a); d < bestD {
			best, bestD = a, d
		}
	}
	limit := max(2, len(name)/3)
	if len(name) < 3 {
		limit = 1
	}
	if bestD <= limit {
		return best
	}
	if len(lower) >= 3 {
		for _, a := range allowed {
			if strings.HasPrefix(a, lower) {
				return a
			}
		}
	}
	return ""
}

// apiNames are the JSON API's field names (lower case, no underscores) whose jobspec
// name differs by more than case.
var apiNames = map[string]string{
	"memorymb": "memory", "memorymaxmb": "memory_max", "portlabel": "port", "destpath": "destination",
	"embeddedtmpl": "data", "sourcepath": "source", "taskgroups": "groups", "restartpolicy": "restart",
	"envvars": "env", "leftdelim": "left_delimiter", "rightdelim": "right_delimiter", "errmissingkey": "error_on_missing_key",
	"reservedports": "ports", "dynamicports": "ports", "networks": "network",
}

// editDistance is the optimal-string-alignment distance: insertions, deletions,
// substitutions and adjacent transpositions ("evn" for "env") each count one.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func (f *fields) has(name string) bool {
	v, ok := f.vals[name]
	return ok && v != starlark.None
}

func (f *fields) errf(name, format string, args ...any) error {
	return fmt.Errorf("%s: field %q: %s", f.where, name, fmt.Sprintf(format, args...))
}

// str reads a string field. An Unknown becomes its own text and taints the spec, so
// that nomad.run knows the job cannot be planned against Nomad yet.
func (f *fields) str(name string) (string, bool, error) {
	if !f.has(name) {
		return "", false, nil
	}
	return f.strValue(name, f.vals[name], "")
}

func (f *fields) strValue(name string, v starlark.Value, key string) (string, bool, error) {
	var arg runtime.SecretArg
	if arg.Unpack(v) != nil {
		return "", false, f.errf(name, "want a string, not %s", v.Type())
	}
	switch {
	case arg.IsUnknown():
		f.taint.unknowns = append(f.taint.unknowns, fmt.Sprintf("%s %s", f.where, name))
		return arg.Unknown.String(), true, nil
	case arg.Sensitive:
		f.taint.secrets[arg.Value] = true
		if key != "" {
			f.taint.sensitiveKeys[key] = true
		}
	}
	return arg.Value, true, nil
}

// requiredStr is str for a field that must be set and non-empty.
func (f *fields) requiredStr(name string) (string, error) {
	s, ok, err := f.str(name)
	if err != nil {
		return "", err
	}
	if !ok || s == "" {
		return "", fmt.Errorf("%s: field %q is required", f.where, name)
	}
	return s, nil
}

func (f *fields) integer(name string) (int, bool, error) {
	if !f.has(name) {
		return 0, false, nil
	}
	v, ok := f.vals[name].(starlark.Int)
	if !ok {
		if s := (runtime.StringArg{}); s.Unpack(f.vals[name]) == nil && s.IsUnknown() {
			return 0, false, f.errf(name, "is not known until apply; a job's numbers must be known to plan it")
		}
		return 0, false, f.errf(name, "want an int, not %s", f.vals[name].Type())
	}
	i, ok := v.Int64()
	if !ok || i < -1<<31 || i > 1<<31-1 {
		return 0, false, f.errf(name, "%s is out of range", v)
	}
	return int(i), true, nil
}

func (f *fields) boolean(name string) (bool, bool, error) {
	if !f.has(name) {
		return false, false, nil
	}
	v, ok := f.vals[name].(starlark.Bool)
	if !ok {
		return false, false, f.errf(name, "want True or False, not %s", f.vals[name].Type())
	}
	return bool(v), true, nil
}

// duration reads "2s", "1h30m" or an int of seconds, as the HCL jobspec does.
func (f *fields) duration(name string) (time.Duration, bool, error) {
	if !f.has(name) {
		return 0, false, nil
	}
	var d runtime.DurationArg
	if err := d.Unpack(f.vals[name]); err != nil {
		return 0, false, f.errf(name, "%v", err)
	}
	return d.D(), true, nil
}

func (f *fields) strings(name string) ([]string, bool, error) {
	if !f.has(name) {
		return nil, false, nil
	}
	v := f.vals[name]
	it, ok := v.(starlark.Iterable)
	if !ok || v.Type() == "string" {
		return nil, false, f.errf(name, "want a list of strings, not %s", v.Type())
	}
	out := []string{}
	iter := it.Iterate()
	defer iter.Done()
	var e starlark.Value
	for iter.Next(&e) {
		s, _, err := f.strValue(name, e, "")
		if err != nil {
			return nil, false, f.errf(name, "want a list of strings, got an element of type %s", e.Type())
		}
		out = append(out, s)
	}
	return out, true, nil
}

// strMap reads env = {...} or meta = {...}: string keys, string (or secret) values.
// Ints and bools are accepted and written as Nomad would read them from HCL.
func (f *fields) strMap(name string) (map[string]string, bool, error) {
	if !f.has(name) {
		return nil, false, nil
	}
	d, ok := f.vals[name].(*starlark.Dict)
	if !ok {
		return nil, false, f.errf(name, "want a dict of strings, not %s", f.vals[name].Type())
	}
	out := make(map[string]string, d.Len())
	for _, it := range d.Items() {
		k, ok := it[0].(starlark.String)
		if !ok {
			return nil, false, f.errf(name, "key %s is not a string", it[0])
		}
		var s string
		switch v := it[1].(type) {
		case starlark.Int, starlark.Bool, starlark.Float:
			s = v.String()
			if b, isBool := v.(starlark.Bool); isBool {
				s = fmt.Sprint(bool(b))
			}
		default:
			var err error
			s, _, err = f.strValue(fmt.Sprintf("%s[%s]", name, string(k)), v, string(k))
			if err != nil {
				return nil, false, err
			}
		}
		out[string(k)] = s
	}
	return out, true, nil
}

// anyMap reads a driver config = {...}: any JSON-like value, secrets unwrapped (and
// remembered as secrets), unknowns replaced by their text (and remembered).
func (f *fields) anyMap(name string) (map[string]any, bool, error) {
	if !f.has(name) {
		return nil, false, nil
	}
	if _, ok := f.vals[name].(*starlark.Dict); !ok {
		return nil, false, f.errf(name, "want a dict, not %s", f.vals[name].Type())
	}
	v, err := f.toData(name, f.vals[name], "")
	if err != nil {
		return nil, false, err
	}
	return v.(map[string]any), true, nil
}

func (f *fields) toData(path string, v starlark.Value, key string) (any, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		i, ok := v.Int64()
		if !ok {
			return nil, f.errf(path, "integer %s out of range", v)
		}
		return i, nil
	case starlark.Float:
		return float64(v), nil
	case starlark.String, *runtime.Secret, *runtime.Unknown:
		s, _, err := f.strValue(path, v, key)
		return s, err
	case *starlark.List, starlark.Tuple:
		out := []any{}
		iter := v.(starlark.Iterable).Iterate()
		defer iter.Done()
		var e starlark.Value
		for i := 0; iter.Next(&e); i++ {
			g, err := f.toData(fmt.Sprintf("%s[%d]", path, i), e, key)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		return out, nil
	case *starlark.Dict:
		out := make(map[string]any, v.Len())
		for _, it := range v.Items() {
			k, ok := it[0].(starlark.String)
			if !ok {
				return nil, f.errf(path, "key %s is not a string", it[0])
			}
			g, err := f.toData(path+"."+string(k), it[1], string(k))
			if err != nil {
				return nil, err
			}
			out[string(k)] = g
		}
		return out, nil
	}
	return nil, f.errf(path, "cannot use a %s in a job spec", v.Type())
}

// list reads a list field whose elements must all be one kind of spec value.
func list[T any](f *fields, name, kind string) ([]*spec[T], error) {
	if !f.has(name) {
		return nil, nil
	}
	it, ok := f.vals[name].(starlark.Iterable)
	if !ok || f.vals[name].Type() == "string" {
		return nil, f.errf(name, "want a list of %s values, not %s", kind, f.vals[name].Type())
	}
	var out []*spec[T]
	iter := it.Iterate()
	defer iter.Done()
	var e starlark.Value
	for iter.Next(&e) {
		s, ok := e.(*spec[T])
		if !ok {
			return nil, f.errf(name, "want %s values, got %s", kind, e.Type())
		}
		f.taint.merge(s.taint)
		out = append(out, s)
	}
	return out, nil
}

// one reads a field holding a single spec value of one kind.
func one[T any](f *fields, name, kind string) (*spec[T], error) {
	if !f.has(name) {
		return nil, nil
	}
	s, ok := f.vals[name].(*spec[T])
	if !ok {
		return nil, f.errf(name, "want a %s value, not %s", kind, f.vals[name].Type())
	}
	f.taint.merge(s.taint)
	return s, nil
}
