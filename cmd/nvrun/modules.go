package main

import (
	"io"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/builtins/http"
	"github.com/nvrun/nvrun/builtins/nomad"
	"github.com/nvrun/nvrun/builtins/vault"
	"github.com/nvrun/nvrun/runtime"
)

// moduleConfig is what the CLI passes to builtin modules.
type moduleConfig struct {
	keysFile string
	env      map[string]string
	// rawStderr is NOT redacted: it is where vault.init dumps the keys if the keys file
	// cannot be written, because losing them would be worse than showing them.
	rawStderr io.Writer
}

// modules lists the builtin modules every script sees.
func modules(cfg moduleConfig) []runtime.Module {
	return []runtime.Module{
		vault.Module(vault.Options{KeysFile: cfg.keysFile, Stderr: cfg.rawStderr}),
		nomad.Module(nomad.Options{}),
		consul.Module(consul.Options{}),
		http.Module(http.Options{}),
	}
}
