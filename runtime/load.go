package runtime

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"
)

// StdlibPrefix names a file of the embedded standard library in load().
const StdlibPrefix = "@stdlib//"

// loader resolves load() statements. Paths are relative to the loading file; a script
// may not load files outside its own directory tree (so a forked script cannot quietly
// read ~/.ssh), except the embedded stdlib. Each module is executed once and cached;
// a load cycle is an error that names the chain.
type loader struct {
	run  *Run
	root string // directory of the main script (symlinks resolved)
	main string // absolute path of the main script
	// prefix is the script's directory as the user named it ("scripts/"), so that
	// positions in errors are paths the user can open from where they ran nvrun.
	prefix  string
	stdlib  fs.FS
	cache   map[string]*loadEntry
	loading []string          // display names of the modules being loaded, for cycle messages
	digests map[string]string // display name -> SHA-256 of each loaded file's bytes
}

type loadEntry struct {
	globals starlark.StringDict
	err     error
	done    bool
}

func newLoader(r *Run, script, mainAbs string, stdlib fs.FS) *loader {
	root := filepath.Dir(mainAbs)
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	return &loader{run: r, root: root, main: mainAbs, prefix: displayPrefix(script, mainAbs), stdlib: stdlib, cache: map[string]*loadEntry{}, digests: map[string]string{}}
}

// displayPrefix is the script's directory as positions show it: as the user typed it, or
// relative to the working directory, or nothing (bare file names) when it lies elsewhere.
func displayPrefix(script, mainAbs string) string {
	dir := filepath.Dir(script)
	if filepath.IsAbs(script) {
		dir = ""
		if cwd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(cwd, filepath.Dir(mainAbs)); err == nil && !strings.HasPrefix(rel, "..") {
				dir = rel
			}
		}
	}
	prefix := filepath.ToSlash(dir) + "/"
	if prefix == "./" || prefix == "/" {
		prefix = ""
	}
	return prefix
}

func (l *loader) loadMain(thread *starlark.Thread) (starlark.StringDict, error) {
	src, err := os.ReadFile(l.main)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	name := l.prefix + filepath.Base(l.main)
	if err := checkSource(name, src); err != nil {
		return nil, err
	}
	l.loading = []string{name}
	thread.SetLocal(localCurrentFile, name)
	return execFile(thread, name, src, l.run.globals)
}

const localCurrentFile = "nvrun.file"

// load implements starlark.Thread.Load. Module names are resolved against the display
// name of the loading file (relative to the script root, or @stdlib//...).
func (l *loader) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	from, _ := thread.Local(localCurrentFile).(string)
	name, err := l.resolve(from, module)
	if err != nil {
		return nil, err
	}
	for _, n := range l.loading {
		if n == name {
			return nil, fmt.Errorf("load cycle: %s -> %s", strings.Join(l.loading, " -> "), name)
		}
	}
	if e, ok := l.cache[name]; ok {
		return e.globals, e.err
	}
	src, err := l.read(name)
	if err == nil {
		err = checkSource(name, src)
	}
	if err != nil {
		return nil, err
	}
	l.digests[name] = sourceDigest(src) // for saved plans
	l.loading = append(l.loading, name)
	thread.SetLocal(localCurrentFile, name)
	globals, err := execFile(thread, name, src, l.run.globals)
	l.loading = l.loading[:len(l.loading)-1]
	thread.SetLocal(localCurrentFile, from)
	l.cache[name] = &loadEntry{globals: globals, err: err, done: true}
	return globals, err
}

// resolve turns a load() argument into a display name: "lib/x.star" (relative to the
// script root) or "@stdlib//x.star".
func (l *loader) resolve(from, module string) (string, error) {
	if strings.HasPrefix(module, StdlibPrefix) {
		p := path.Clean(strings.TrimPrefix(module, StdlibPrefix))
		if p == "." || strings.HasPrefix(p, "../") || path.IsAbs(p) {
			return "", fmt.Errorf("load %q: not a stdlib file", module)
		}
		return StdlibPrefix + p, nil
	}
	if strings.HasPrefix(module, "@") {
		return "", fmt.Errorf("load %q: unknown repository (only %s is built in)", module, StdlibPrefix)
	}
	if path.IsAbs(module) || filepath.IsAbs(module) {
		return "", fmt.Errorf("load %q: absolute paths are not allowed; load relative to the script", module)
	}
	if strings.HasPrefix(from, StdlibPrefix) {
		dir := path.Dir(strings.TrimPrefix(from, StdlibPrefix))
		p := path.Clean(path.Join(dir, module))
		if strings.HasPrefix(p, "../") || p == ".." {
			return "", fmt.Errorf("load %q: escapes the stdlib", module)
		}
		return StdlibPrefix + p, nil
	}
	p := path.Clean(path.Join(path.Dir(strings.TrimPrefix(from, l.prefix)), filepath.ToSlash(module)))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("load %q: outside the script's directory (%s); only files under it and %s are loadable", module, filepath.Base(l.root), StdlibPrefix)
	}
	return l.prefix + p, nil
}

func (l *loader) read(name string) ([]byte, error) {
	if strings.HasPrefix(name, StdlibPrefix) {
		if l.stdlib == nil {
			return nil, fmt.Errorf("load %q: no stdlib in this build", name)
		}
		b, err := fs.ReadFile(l.stdlib, strings.TrimPrefix(name, StdlibPrefix))
		if err != nil {
			return nil, fmt.Errorf("load %q: no such stdlib file", name)
		}
		return b, nil
	}
	abs := filepath.Join(l.root, filepath.FromSlash(strings.TrimPrefix(name, l.prefix)))
	// A symlink must not lead out of the tree either.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("load %q: %w", name, unwrapPathError(err))
	}
	if rel, err := filepath.Rel(l.root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("load %q: resolves (through a symlink) outside the script's directory", name)
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return nil, fmt.Errorf("load %q: %w", name, unwrapPathError(err))
	}
	return b, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
