package nomad

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/nvrun/nvrun/runtime"
)

// AgentFiles is where nomad.agent_config and nomad.agent_config_read find the agent
// config file, and how on_change runs. nvrun leaves Options.AgentFiles nil, which is the
// local file system and a real process (OSFiles); `nvrun test` plugs in a fake
// (builtins/nomad/nomadfake) that serves the described agent config and records
// on_change without running anything.
type AgentFiles interface {
	// Read returns the file at path, symlinks followed. A missing file is an error
	// that wraps fs.ErrNotExist.
	Read(path string) (AgentFile, error)
	// Write replaces f.Real with f.Data and f.Mode atomically (no reader ever sees half
	// of it), keeping f.UID and f.GID as its owner where it may (-1: leave as created).
	Write(f AgentFile) error
	// Chmod sets the mode of the file at real.
	Chmod(real string, mode fs.FileMode) error
	// Run runs the on_change command argv with exactly the environment env and returns
	// its combined output.
	Run(ctx context.Context, argv, env []string) ([]byte, error)
}

// AgentFile is one agent config file as AgentFiles reads and writes it.
type AgentFile struct {
	Real     string // the path with symlinks resolved: what is read and replaced
	Data     []byte
	Mode     fs.FileMode // permission bits
	UID, GID int         // owner; -1 when unknown
}

// OSFiles is the local file system and real processes: what nvrun uses.
type OSFiles struct{}

// files is Options.AgentFiles, or the local file system.
func (m *module) files() AgentFiles {
	if m.opts.AgentFiles != nil {
		return m.opts.AgentFiles
	}
	return OSFiles{}
}

func (OSFiles) Read(path string) (AgentFile, error) {
	f := AgentFile{Real: path, UID: -1, GID: -1, Mode: 0o644}
	if r, err := filepath.EvalSymlinks(path); err == nil {
		f.Real = r
	}
	src, err := os.ReadFile(f.Real)
	if err != nil {
		return f, err
	}
	f.Data = src
	if st, err := os.Stat(f.Real); err == nil {
		f.Mode = permOf(st).Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			f.UID, f.GID = int(sys.Uid), int(sys.Gid)
		}
	}
	return f, nil
}

// Write is a temp file in the same directory, fsynced, renamed over the old one, and
// the directory fsynced. The mode is set before any byte of a token is written.
func (OSFiles) Write(f AgentFile) error {
	dir := filepath.Dir(f.Real)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return runtime.WriteFileAtomic(f.Real, f.Data, f.Mode, func(tmp *os.File) {
		if f.UID >= 0 {
			_ = tmp.Chown(f.UID, f.GID) // only root may give a file away; best effort
		}
	})
}

func (OSFiles) Chmod(real string, mode fs.FileMode) error { return os.Chmod(real, mode) }

func (OSFiles) Run(ctx context.Context, argv, env []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	return cmd.CombinedOutput()
}
