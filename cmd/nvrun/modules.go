package main

import (
	"io"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/builtins/http"
	"github.com/nvrun/nvrun/runtime"
)

// moduleConfig is what the CLI passes to builtin modules.
type moduleConfig struct {
	keysFile string
	env      map[string]string
	stderr   io.Writer // redacted; for last-resort output such as unsavable init keys
}

// modules lists the builtin modules every script sees.
func modules(cfg moduleConfig) []runtime.Module {
	return []runtime.Module{
		consul.Module(),
		http.Module(),
	}
}
