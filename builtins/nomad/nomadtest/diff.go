package nomadtest

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// The job diff mirrors nomad/structs/diff.go in shape (JobDiff -> TaskGroupDiff ->
// TaskDiff, with FieldDiffs and ObjectDiffs) and in naming (primitive fields by field
// name, maps as "Meta[key]", string lists as set objects, the task config flattened as
// "args[0]", durations in nanoseconds), but it is computed generically by reflecting
// over the api types, so any field a client can set shows up when it changes.
// It is always contextual, as the plan endpoint asks: unchanged primitive fields are
// listed with Type "None", unchanged objects are left out.

const (
	diffNone    = "None"
	diffAdded   = "Added"
	diffDeleted = "Deleted"
	diffEdited  = "Edited"
)

// jobDiffFilter lists the job fields the diff ignores: server-set ones, the job ID (it is
// JobDiff.ID), Update (groups carry it) and the task groups (diffed on their own).
var jobDiffFilter = setOf("ID", "Status", "StatusDescription", "Version", "Stable", "CreateIndex",
	"ModifyIndex", "JobModifyIndex", "Update", "SubmitTime", "NomadTokenID", "VersionTag", "TaskGroups", "Payload")

// objectNames are the object names Nomad uses where they differ from the field name.
var objectNames = map[string]string{
	"Networks":         "Network",
	"Services":         "Service",
	"Checks":           "Check",
	"Templates":        "Template",
	"Artifacts":        "Artifact",
	"Constraints":      "Constraint",
	"Affinities":       "Affinity",
	"Spreads":          "Spread",
	"SpreadTarget":     "SpreadTarget",
	"DynamicPorts":     "Dynamic Port",
	"ReservedPorts":    "Static Port",
	"Devices":          "Device",
	"VolumeMounts":     "VolumeMount",
	"Volumes":          "Volume",
	"Identities":       "Identity",
	"Secrets":          "Secret",
	"Actions":          "Action",
	"ParameterizedJob": "ParameterizedJob",
	"ScalingPolicies":  "ScalingPolicy",
}

// listKeys names the field that identifies an element of a list, for lists whose
// elements are matched by identity rather than as a set.
var listKeys = map[reflect.Type]string{
	reflect.TypeFor[api.Service]():      "Name",
	reflect.TypeFor[api.ServiceCheck](): "Name",
	reflect.TypeFor[api.Template]():     "DestPath",
	reflect.TypeFor[api.Port]():         "Label",
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// jobDiff diffs two versions of a job; old is nil for a new job.
func jobDiff(old, new *api.Job) *api.JobDiff {
	d := &api.JobDiff{ID: str(new.ID)}
	d.Fields, d.Objects = structDiff(elem(old), elem(new), jobDiffFilter)
	var oldGroups, newGroups []*api.TaskGroup
	if old != nil {
		oldGroups = old.TaskGroups
	}
	newGroups = new.TaskGroups
	d.TaskGroups = groupDiffs(oldGroups, newGroups)
	switch {
	case old == nil:
		d.Type = diffAdded
	case changed(d.Fields, d.Objects) || groupsChanged(d.TaskGroups):
		d.Type = diffEdited
	default:
		d.Type = diffNone
	}
	return d
}

func groupsChanged(tgs []*api.TaskGroupDiff) bool {
	for _, tg := range tgs {
		if tg.Type != diffNone {
			return true
		}
	}
	return false
}

func groupDiffs(olds, news []*api.TaskGroup) []*api.TaskGroupDiff {
	byName := map[string]*api.TaskGroup{}
	for _, tg := range olds {
		byName[str(tg.Name)] = tg
	}
	var out []*api.TaskGroupDiff
	seen := map[string]bool{}
	for _, tg := range news {
		seen[str(tg.Name)] = true
		out = append(out, groupDiff(byName[str(tg.Name)], tg))
	}
	for _, tg := range olds {
		if !seen[str(tg.Name)] {
			out = append(out, groupDiff(tg, nil))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func groupDiff(old, new *api.TaskGroup) *api.TaskGroupDiff {
	d := &api.TaskGroupDiff{}
	if new != nil {
		d.Name = str(new.Name)
	} else {
		d.Name = str(old.Name)
	}
	d.Fields, d.Objects = structDiff(elem(old), elem(new), setOf("Name", "Tasks"))
	var oldTasks, newTasks []*api.Task
	if old != nil {
		oldTasks = old.Tasks
	}
	if new != nil {
		newTasks = new.Tasks
	}
	d.Tasks = taskDiffs(oldTasks, newTasks)
	switch {
	case old == nil:
		d.Type = diffAdded
	case new == nil:
		d.Type = diffDeleted
	case changed(d.Fields, d.Objects) || tasksChanged(d.Tasks):
		d.Type = diffEdited
	default:
		d.Type = diffNone
	}
	return d
}

func tasksChanged(ts []*api.TaskDiff) bool {
	for _, t := range ts {
		if t.Type != diffNone {
			return true
		}
	}
	return false
}

func taskDiffs(olds, news []*api.Task) []*api.TaskDiff {
	byName := map[string]*api.Task{}
	for _, t := range olds {
		byName[t.Name] = t
	}
	var out []*api.TaskDiff
	seen := map[string]bool{}
	for _, t := range news {
		seen[t.Name] = true
		out = append(out, taskDiff(byName[t.Name], t))
	}
	for _, t := range olds {
		if !seen[t.Name] {
			out = append(out, taskDiff(t, nil))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func taskDiff(old, new *api.Task) *api.TaskDiff {
	d := &api.TaskDiff{}
	if new != nil {
		d.Name = new.Name
	} else {
		d.Name = old.Name
	}
	d.Fields, d.Objects = structDiff(elem(old), elem(new), setOf("Name"))
	switch {
	case old == nil:
		d.Type = diffAdded
	case new == nil:
		d.Type = diffDeleted
	case changed(d.Fields, d.Objects):
		d.Type = diffEdited
	default:
		d.Type = diffNone
	}
	return d
}

// elem is the struct a pointer points at, or the invalid Value for nil (absent).
func elem[T any](p *T) reflect.Value {
	if p == nil {
		return reflect.Value{}
	}
	return reflect.ValueOf(p).Elem()
}

func changed(fields []*api.FieldDiff, objects []*api.ObjectDiff) bool {
	for _, f := range fields {
		if f.Type != diffNone {
			return true
		}
	}
	return len(objects) > 0
}

// structDiff diffs two values of one struct type; an invalid Value is an absent struct.
func structDiff(old, new reflect.Value, filter map[string]bool) ([]*api.FieldDiff, []*api.ObjectDiff) {
	var t reflect.Type
	if old.IsValid() {
		t = old.Type()
	} else {
		t = new.Type()
	}
	var fields []*api.FieldDiff
	var objects []*api.ObjectDiff
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || filter[f.Name] {
			continue
		}
		ov, nv := field(old, i), field(new, i)
		fs, os := valueDiff(f.Name, f.Type, ov, nv)
		fields = append(fields, fs...)
		objects = append(objects, os...)
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	sort.SliceStable(objects, func(i, j int) bool { return objects[i].Name < objects[j].Name })
	return fields, objects
}

func field(v reflect.Value, i int) reflect.Value {
	if !v.IsValid() {
		return reflect.Value{}
	}
	return v.Field(i)
}

// deref follows pointers and interfaces; nil ones become the invalid Value.
func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

func baseType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func isPrimitive(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func primString(v reflect.Value) (string, bool) {
	v = deref(v)
	if !v.IsValid() {
		return "", false
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), true
	case reflect.String:
		return v.String(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64), true
	}
	return fmt.Sprint(v.Interface()), true
}

// fieldDiff is Nomad's fieldDiff in contextual mode.
func fieldDiff(old, new, name string) *api.FieldDiff {
	d := &api.FieldDiff{Name: name, Old: old, New: new}
	switch {
	case old == new:
		d.Type = diffNone
	case old == "":
		d.Type, d.Old = diffAdded, ""
	case new == "":
		d.Type, d.New = diffDeleted, ""
	default:
		d.Type = diffEdited
	}
	return d
}

func valueDiff(name string, t reflect.Type, ov, nv reflect.Value) ([]*api.FieldDiff, []*api.ObjectDiff) {
	bt := baseType(t)
	switch {
	case isPrimitive(bt.Kind()):
		os, ook := primString(ov)
		ns, nok := primString(nv)
		if !ook && !nok {
			return nil, nil
		}
		return []*api.FieldDiff{fieldDiff(os, ns, name)}, nil

	case bt.Kind() == reflect.Map:
		return mapDiff(name, bt, deref(ov), deref(nv))

	case bt.Kind() == reflect.Slice:
		et := baseType(bt.Elem())
		if isPrimitive(et.Kind()) {
			if od := stringSetDiff(name, sliceStrings(deref(ov)), sliceStrings(deref(nv))); od != nil {
				return nil, []*api.ObjectDiff{od}
			}
			return nil, nil
		}
		if et.Kind() == reflect.Struct {
			return nil, listDiff(objectName(name), et, deref(ov), deref(nv))
		}
		return flatDiff(name, ov, nv)

	case bt.Kind() == reflect.Struct && !hasExportedFields(bt):
		// Opaque values (a time.Time, say) compare as their printed form.
		os, ook := opaqueString(ov)
		ns, nok := opaqueString(nv)
		if !ook && !nok {
			return nil, nil
		}
		return []*api.FieldDiff{fieldDiff(os, ns, name)}, nil

	case bt.Kind() == reflect.Struct:
		if od := objectDiff(objectName(name), deref(ov), deref(nv)); od != nil {
			return nil, []*api.ObjectDiff{od}
		}
		return nil, nil

	default: // interface values
		return flatDiff(name, ov, nv)
	}
}

func hasExportedFields(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

func opaqueString(v reflect.Value) (string, bool) {
	v = deref(v)
	if !v.IsValid() {
		return "", false
	}
	return fmt.Sprint(v.Interface()), true
}

func objectName(field string) string {
	if n, ok := objectNames[field]; ok {
		return n
	}
	return field
}

// objectDiff diffs two structs (invalid = absent); nil when nothing changed.
func objectDiff(name string, old, new reflect.Value) *api.ObjectDiff {
	if !old.IsValid() && !new.IsValid() {
		return nil
	}
	d := &api.ObjectDiff{Name: name}
	d.Fields, d.Objects = structDiff(old, new, nil)
	switch {
	case !old.IsValid():
		d.Type = diffAdded
	case !new.IsValid():
		d.Type = diffDeleted
	case changed(d.Fields, d.Objects):
		d.Type = diffEdited
	default:
		return nil
	}
	return d
}

func mapDiff(name string, t reflect.Type, old, new reflect.Value) ([]*api.FieldDiff, []*api.ObjectDiff) {
	et := baseType(t.Elem())
	keys := map[string]bool{}
	for _, m := range []reflect.Value{old, new} {
		if m.IsValid() {
			for _, k := range m.MapKeys() {
				keys[fmt.Sprint(k.Interface())] = true
			}
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	index := func(m reflect.Value, k string) reflect.Value {
		if !m.IsValid() {
			return reflect.Value{}
		}
		return m.MapIndex(reflect.ValueOf(k).Convert(m.Type().Key()))
	}
	switch {
	case isPrimitive(et.Kind()):
		var fields []*api.FieldDiff
		for _, k := range sorted {
			os, ook := primString(index(old, k))
			ns, nok := primString(index(new, k))
			if ook || nok {
				fields = append(fields, fieldDiff(os, ns, name+"["+k+"]"))
			}
		}
		return fields, nil
	case et.Kind() == reflect.Struct:
		var objects []*api.ObjectDiff
		for _, k := range sorted {
			if od := objectDiff(objectName(name), deref(index(old, k)), deref(index(new, k))); od != nil {
				objects = append(objects, od)
			}
		}
		return nil, objects
	case et.Kind() == reflect.Interface:
		// The task config: one object with its flattened keys as fields.
		oldFlat, newFlat := map[string]string{}, map[string]string{}
		if old.IsValid() {
			flatten("", old.Interface(), oldFlat)
		}
		if new.IsValid() {
			flatten("", new.Interface(), newFlat)
		}
		if reflect.DeepEqual(oldFlat, newFlat) {
			return nil, nil
		}
		d := &api.ObjectDiff{Name: name, Type: diffEdited, Fields: flatFieldDiffs(oldFlat, newFlat)}
		if len(oldFlat) == 0 {
			d.Type = diffAdded
		} else if len(newFlat) == 0 {
			d.Type = diffDeleted
		}
		return nil, []*api.ObjectDiff{d}
	default:
		return flatDiff(name, old, new)
	}
}

// flatDiff flattens arbitrary values into "name[key]" / "name[0]" fields.
func flatDiff(name string, old, new reflect.Value) ([]*api.FieldDiff, []*api.ObjectDiff) {
	oldFlat, newFlat := map[string]string{}, map[string]string{}
	if v := deref(old); v.IsValid() {
		flatten(name, v.Interface(), oldFlat)
	}
	if v := deref(new); v.IsValid() {
		flatten(name, v.Interface(), newFlat)
	}
	return flatFieldDiffs(oldFlat, newFlat), nil
}

func flatFieldDiffs(oldFlat, newFlat map[string]string) []*api.FieldDiff {
	keys := map[string]bool{}
	for k := range oldFlat {
		keys[k] = true
	}
	for k := range newFlat {
		keys[k] = true
	}
	var out []*api.FieldDiff
	for k := range keys {
		out = append(out, fieldDiff(oldFlat[k], newFlat[k], k))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// flatten is nomad/helper/flatmap for JSON-shaped values: map keys as "prefix[key]"
// (bare at the top), list items as "prefix[i]".
func flatten(prefix string, v any, out map[string]string) {
	sub := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "[" + k + "]"
	}
	rv := reflect.ValueOf(v)
	switch {
	case v == nil:
		return
	case rv.Kind() == reflect.Map:
		for _, k := range rv.MapKeys() {
			flatten(sub(fmt.Sprint(k.Interface())), rv.MapIndex(k).Interface(), out)
		}
	case rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8:
		for i := 0; i < rv.Len(); i++ {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), rv.Index(i).Interface(), out)
		}
	default:
		if s, ok := primString(rv); ok {
			out[prefix] = s
		}
	}
}

func sliceStrings(v reflect.Value) []string {
	if !v.IsValid() {
		return nil
	}
	out := make([]string, 0, v.Len())
	for i := 0; i < v.Len(); i++ {
		s, _ := primString(v.Index(i))
		out = append(out, s)
	}
	return out
}

// stringSetDiff is Nomad's stringSetDiff (contextual): nil when the sets are equal.
func stringSetDiff(name string, old, new []string) *api.ObjectDiff {
	oldSet, newSet := map[string]bool{}, map[string]bool{}
	for _, s := range old {
		oldSet[s] = true
	}
	for _, s := range new {
		newSet[s] = true
	}
	d := &api.ObjectDiff{Name: name}
	var added, removed bool
	for s := range oldSet {
		if !newSet[s] {
			d.Fields = append(d.Fields, fieldDiff(s, "", name))
			removed = true
		} else {
			d.Fields = append(d.Fields, fieldDiff(s, s, name))
		}
	}
	for s := range newSet {
		if !oldSet[s] {
			d.Fields = append(d.Fields, fieldDiff("", s, name))
			added = true
		}
	}
	sort.SliceStable(d.Fields, func(i, j int) bool {
		a, b := d.Fields[i], d.Fields[j]
		return a.Old+a.New < b.Old+b.New
	})
	switch {
	case added && removed:
		d.Type = diffEdited
	case added:
		d.Type = diffAdded
	case removed:
		d.Type = diffDeleted
	default:
		return nil
	}
	return d
}

// listDiff diffs lists of structs: by key field where the element type has one
// (services by name, templates by destination, ports by label), else as sets.
func listDiff(name string, et reflect.Type, old, new reflect.Value) []*api.ObjectDiff {
	items := func(v reflect.Value) []reflect.Value {
		if !v.IsValid() {
			return nil
		}
		var out []reflect.Value
		for i := 0; i < v.Len(); i++ {
			if e := deref(v.Index(i)); e.IsValid() {
				out = append(out, e)
			}
		}
		return out
	}
	olds, news := items(old), items(new)
	var out []*api.ObjectDiff
	if key, ok := listKeys[et]; ok {
		keyOf := func(v reflect.Value) string { s, _ := primString(v.FieldByName(key)); return s }
		byKey := map[string]reflect.Value{}
		for _, o := range olds {
			byKey[keyOf(o)] = o
		}
		seen := map[string]bool{}
		for _, n := range news {
			k := keyOf(n)
			seen[k] = true
			if od := objectDiff(name, byKey[k], n); od != nil {
				out = append(out, od)
			}
		}
		for _, o := range olds {
			if !seen[keyOf(o)] {
				out = append(out, objectDiff(name, o, reflect.Value{}))
			}
		}
		return out
	}
	used := make([]bool, len(olds))
	for _, n := range news {
		match := -1
		for i, o := range olds {
			if !used[i] && reflect.DeepEqual(o.Interface(), n.Interface()) {
				match = i
				break
			}
		}
		if match >= 0 {
			used[match] = true
			continue
		}
		out = append(out, objectDiff(name, reflect.Value{}, n))
	}
	for i, o := range olds {
		if !used[i] {
			out = append(out, objectDiff(name, o, reflect.Value{}))
		}
	}
	return out
}

// Annotations, as nomad/scheduler/annotate.go writes them.
const (
	annotationForcesCreate            = "forces create"
	annotationForcesDestroy           = "forces destroy"
	annotationForcesInplaceUpdate     = "forces in-place update"
	annotationForcesDestructiveUpdate = "forces create/destroy update"

	updateTypeIgnore            = "ignore"
	updateTypeCreate            = "create"
	updateTypeDestroy           = "destroy"
	updateTypeMigrate           = "migrate"
	updateTypeCanary            = "canary"
	updateTypeInplaceUpdate     = "in-place update"
	updateTypeDestructiveUpdate = "create/destroy update"
)

// annotate adds the scheduler's desired updates and the "forces ..." annotations.
func annotate(d *api.JobDiff, ann *api.PlanAnnotations) {
	for _, tg := range d.TaskGroups {
		if ann != nil {
			if u, ok := ann.DesiredTGUpdates[tg.Name]; ok {
				updates := map[string]uint64{}
				add := func(k string, n uint64) {
					if n != 0 {
						updates[k] = n
					}
				}
				add(updateTypeIgnore, u.Ignore)
				add(updateTypeCreate, u.Place)
				add(updateTypeMigrate, u.Migrate)
				add(updateTypeDestroy, u.Stop)
				add(updateTypeCanary, u.Canary)
				add(updateTypeInplaceUpdate, u.InPlaceUpdate)
				add(updateTypeDestructiveUpdate, u.DestructiveUpdate)
				tg.Updates = updates
			}
		}
		for _, f := range tg.Fields {
			if f.Name != "Count" {
				continue
			}
			oldN, _ := strconv.Atoi(f.Old)
			newN, _ := strconv.Atoi(f.New)
			if oldN < newN {
				f.Annotations = append(f.Annotations, annotationForcesCreate)
			} else if newN < oldN {
				f.Annotations = append(f.Annotations, annotationForcesDestroy)
			}
		}
		for _, t := range tg.Tasks {
			annotateTask(t, tg)
		}
	}
}

func annotateTask(d *api.TaskDiff, parent *api.TaskGroupDiff) {
	if d.Type == diffNone {
		return
	}
	if parent.Type == diffAdded || parent.Type == diffDeleted {
		switch d.Type {
		case diffAdded:
			d.Annotations = append(d.Annotations, annotationForcesCreate)
			return
		case diffDeleted:
			d.Annotations = append(d.Annotations, annotationForcesDestroy)
			return
		}
	}
	destructive := false
	for _, f := range d.Fields {
		if f.Type != diffNone && f.Name != "KillTimeout" {
			destructive = true
			break
		}
	}
	if !destructive {
	objects:
		for _, o := range d.Objects {
			switch o.Name {
			case "Service", "Constraint":
			case "LogConfig":
				for _, f := range o.Fields {
					if f.Name == "Disabled" && f.Type != diffNone {
						destructive = true
						break objects
					}
				}
			default:
				destructive = true
				break objects
			}
		}
	}
	if destructive {
		d.Annotations = append(d.Annotations, annotationForcesDestructiveUpdate)
	} else {
		d.Annotations = append(d.Annotations, annotationForcesInplaceUpdate)
	}
}
