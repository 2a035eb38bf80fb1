package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// VarInfo describes a declared var, for --vars and the JSON record.
type VarInfo struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Default   string `json:"default"`
	Doc       string `json:"doc,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
	Source    string `json:"source"` // default, env NVRUN_VAR_x, --var, --var-file F
	Position  string `json:"position"`
	Order     int    `json:"-"`
}

// setting is one value given from outside the script, not yet typed.
type setting struct {
	raw    string // from --var or the environment
	json   any    // from a --var-file
	isJSON bool
	source string
	used   bool
}

// varSet holds the values set from outside and the declarations made by var().
type varSet struct {
	run      *Run
	settings map[string]*setting
	declared map[string]*VarInfo
	values   map[string]starlark.Value
	digests  map[string]string // salted, for saved plans (Options.VarSalt)
}

func newVarSet(r *Run, opts Options) (*varSet, error) {
	vs := &varSet{run: r, settings: map[string]*setting{}, declared: map[string]*VarInfo{}, values: map[string]starlark.Value{}, digests: map[string]string{}}
	// Precedence, lowest first, as terraform users expect: environment, var files, --var.
	for _, kv := range opts.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "NVRUN_VAR_") {
			vs.settings[strings.TrimPrefix(k, "NVRUN_VAR_")] = &setting{raw: v, source: "env " + k}
		}
	}
	for _, f := range opts.VarFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, &UsageError{Flag: "--var-file", Msg: err.Error()}
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, &UsageError{Flag: "--var-file", Msg: fmt.Sprintf("%s: not a JSON object: %v", f, err)}
		}
		for k, v := range m {
			vs.settings[k] = &setting{json: v, isJSON: true, source: "--var-file " + f}
		}
	}
	for i, kv := range opts.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			// The argument is not echoed: `--var s3cr3t` (the value without its name) is a
			// common slip, and the error must not print the secret.
			return nil, &UsageError{Flag: "--var", Msg: fmt.Sprintf("the %s --var is not NAME=VALUE (the argument is not shown, in case it is a secret)", ordinal(i+1))}
		}
		vs.settings[k] = &setting{raw: v, source: "--var " + k}
	}
	return vs, nil
}

func withArticle(typ string) string {
	if strings.ContainsRune("aeiou", rune(typ[0])) {
		return "an " + typ
	}
	return "a " + typ
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// UsageError is a bad flag or flag value; the CLI exits 2 for it.
type UsageError struct {
	Flag string
	Msg  string
}

func (e *UsageError) Error() string { return e.Flag + ": " + e.Msg }

// builtin implements var(name, default, doc="", sensitive=False).
func (vs *varSet) builtin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, doc string
	var def starlark.Value = starlark.None
	var sensitive bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "default?", &def, "doc?", &doc, "sensitive?", &sensitive); err != nil {
		return nil, err
	}
	if !validVarName(name) {
		return nil, fmt.Errorf("var: %q is not a valid name (letters, digits and _; it must work as NVRUN_VAR_%s)", name, name)
	}
	if prev, dup := vs.declared[name]; dup {
		return nil, fmt.Errorf("var: %q is already declared at %s", name, prev.Position)
	}
	switch def.(type) {
	case starlark.NoneType, starlark.String, starlark.Int, starlark.Float, starlark.Bool, *starlark.List, *starlark.Dict:
	default:
		return nil, fmt.Errorf("var %s: default must be a string, int, float, bool, list, dict or None, not %s", name, def.Type())
	}
	info := &VarInfo{Name: name, Type: typeName(def), Default: def.String(), Doc: doc, Sensitive: sensitive,
		Source: "default", Position: callerPos(thread), Order: len(vs.declared)}
	if sensitive {
		info.Default = Redacted
	}
	vs.declared[name] = info

	v := def
	if s, ok := vs.settings[name]; ok {
		s.used = true
		info.Source = s.source
		var err error
		if s.isJSON {
			v, err = fromJSONTyped(s.json, def)
		} else {
			v, err = parseTyped(s.raw, def)
		}
		if err != nil {
			if sensitive {
				// The value is a secret even when mistyped: keep it out of the error, and
				// register it so that no other path can print it either.
				vs.registerRaw(s)
				return nil, fmt.Errorf("var %s (set by %s): want %s; the value is not shown, the var is sensitive", name, s.source, withArticle(typeName(def)))
			}
			return nil, fmt.Errorf("var %s (set by %s): %w", name, s.source, err)
		}
	}
	if salt := vs.run.opts.VarSalt; salt != "" {
		vs.digests[name] = varDigest(salt, name, v.String()) // before secretize hides it
	}
	if sensitive {
		v = vs.secretize(v)
	}
	v.Freeze()
	vs.values[name] = v
	return v, nil
}

// secretize makes every string in a sensitive var's value a Secret, recursively through
// lists and dicts, so that it prints as (sensitive) and is scrubbed from all output. Dict
// keys stay strings (a Secret is not hashable, and keys are names such as "password").
func (vs *varSet) secretize(v starlark.Value) starlark.Value {
	switch v := v.(type) {
	case starlark.String:
		return vs.run.Secret(string(v))
	case *starlark.List:
		out := make([]starlark.Value, v.Len())
		for i := range out {
			out[i] = vs.secretize(v.Index(i))
		}
		return starlark.NewList(out)
	case *starlark.Dict:
		out := starlark.NewDict(v.Len())
		for _, kv := range v.Items() {
			_ = out.SetKey(kv[0], vs.secretize(kv[1]))
		}
		return out
	}
	return v
}

// registerRaw registers the value given for a sensitive var, and every string inside it
// when it is JSON, with the redactor.
func (vs *varSet) registerRaw(s *setting) {
	x := s.json
	if !s.isJSON {
		vs.run.redactor.Add(s.raw)
		dec := json.NewDecoder(strings.NewReader(s.raw))
		if dec.Decode(&x) != nil {
			return
		}
	}
	if v, err := FromJSON(x); err == nil {
		vs.secretize(v)
	}
}

// checkUnused reports a value set for a var the script never declared: almost always a
// typo, and silently ignoring it would apply the default the user meant to override.
//
// An NVRUN_VAR_<name> the script does not declare is only a warning: the environment may
// be shared with other scripts, but a typo there must not pass silently either.
func (vs *varSet) checkUnused() error {
	var names, envNames []string
	for n, s := range vs.settings {
		switch {
		case s.used:
		case strings.HasPrefix(s.source, "env "):
			envNames = append(envNames, n)
		default:
			names = append(names, n)
		}
	}
	sort.Strings(envNames)
	for _, n := range envNames {
		msg := fmt.Sprintf("NVRUN_VAR_%s is set, but the script declares no var %q, so it is ignored", n, n)
		if near := Closest(n, vs.declaredNames()); near != "" {
			msg += fmt.Sprintf("; did you mean NVRUN_VAR_%s?", near)
		}
		vs.run.Warn("%s", msg)
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	n := names[0]
	msg := fmt.Sprintf("%q is not declared by the script", n)
	if near := Closest(n, vs.declaredNames()); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	} else if len(vs.declared) > 0 {
		msg += "; see nvrun --vars SCRIPT"
	}
	flag := vs.settings[n].source
	if i := strings.Index(flag, " "); i > 0 && strings.HasPrefix(flag, "--var ") {
		flag = "--var"
	}
	return &UsageError{Flag: flag, Msg: msg}
}

func (vs *varSet) declaredNames() []string {
	var out []string
	for n := range vs.declared {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (vs *varSet) info() []VarInfo {
	var out []VarInfo
	for _, v := range vs.declared {
		out = append(out, *v)
	}
	return out
}

func validVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func typeName(def starlark.Value) string {
	if def == starlark.None {
		return "string"
	}
	return def.Type()
}

// parseTyped converts a string from --var or the environment to the default's type.
func parseTyped(raw string, def starlark.Value) (starlark.Value, error) {
	switch def.(type) {
	case starlark.NoneType, starlark.String:
		return starlark.String(raw), nil
	case starlark.Int:
		i, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want an int, got %q", raw)
		}
		return starlark.MakeInt64(i), nil
	case starlark.Float:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("want a float, got %q", raw)
		}
		return starlark.Float(f), nil
	case starlark.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", raw)
		}
		return starlark.Bool(b), nil
	}
	// Lists and dicts are given as JSON.
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("want a JSON %s, got %q: %v", def.Type(), raw, err)
	}
	return fromJSONTyped(x, def)
}

// fromJSONTyped converts a decoded JSON value, checking it against the default's type.
func fromJSONTyped(x any, def starlark.Value) (starlark.Value, error) {
	v, err := FromJSON(x)
	if err != nil {
		return nil, err
	}
	want := typeName(def)
	got := v.Type()
	if def == starlark.None || want == got || (want == "float" && got == "int") {
		if want == "float" && got == "int" {
			f, _ := starlark.AsFloat(v)
			return starlark.Float(f), nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("want a %s, got a %s", want, got)
}

// FromJSON converts a value decoded by encoding/json (with UseNumber or not) to Starlark.
func FromJSON(x any) (starlark.Value, error) {
	switch x := x.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(x), nil
	case string:
		return starlark.String(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return starlark.MakeInt64(i), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("bad number %s", x)
		}
		return starlark.Float(f), nil
	case float64:
		if x == float64(int64(x)) {
			return starlark.MakeInt64(int64(x)), nil
		}
		return starlark.Float(x), nil
	case int:
		return starlark.MakeInt(x), nil
	case int64:
		return starlark.MakeInt64(x), nil
	case []any:
		l := make([]starlark.Value, len(x))
		for i, e := range x {
			v, err := FromJSON(e)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return starlark.NewList(l), nil
	case []string:
		l := make([]starlark.Value, len(x))
		for i, e := range x {
			l[i] = starlark.String(e)
		}
		return starlark.NewList(l), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(x))
		for _, k := range keys {
			v, err := FromJSON(x[k])
			if err != nil {
				return nil, err
			}
			_ = d.SetKey(starlark.String(k), v)
		}
		return d, nil
	}
	return nil, fmt.Errorf("unsupported JSON value %T", x)
}
