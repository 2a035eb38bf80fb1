package scripttest

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/nvrun/nvrun/builtins/nomad"
)

// noAgentFiles is the agent config "disk" of a run whose test describes no Nomad: no
// file exists; what the script writes is kept for the rest of the run; on_change runs
// nothing (there is no agent to restart).
type noAgentFiles struct {
	mu    sync.Mutex
	files map[string]nomad.AgentFile
}

func newNoAgentFiles() *noAgentFiles { return &noAgentFiles{files: map[string]nomad.AgentFile{}} }

func (n *noAgentFiles) Read(path string) (nomad.AgentFile, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := filepath.Clean(path)
	if f, ok := n.files[p]; ok {
		return f, nil
	}
	return nomad.AgentFile{Real: p, UID: -1, GID: -1}, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
}

func (n *noAgentFiles) Write(f nomad.AgentFile) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.files[filepath.Clean(f.Real)] = f
	return nil
}

func (n *noAgentFiles) Chmod(real string, mode fs.FileMode) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := n.files[filepath.Clean(real)]
	if !ok {
		return &fs.PathError{Op: "chmod", Path: real, Err: fs.ErrNotExist}
	}
	f.Mode = mode
	n.files[filepath.Clean(real)] = f
	return nil
}

// Run records nothing and runs nothing: with no Nomad described there is no agent to
// restart, and the run's Nomad calls find it unreachable anyway.
func (n *noAgentFiles) Run(context.Context, []string, []string) ([]byte, error) { return nil, nil }
