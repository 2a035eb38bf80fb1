package main

import (
	"fmt"
	"strings"

	"github.com/nvrun/nvrun/builtins/consul"
	"github.com/nvrun/nvrun/runtime"
)

// applyLock is the lock an apply takes (--lock SPEC):
//
//	""          a lock file next to the keys file: KEYSFILE.lock
//	file:PATH   a lock file at PATH
//	consul:KEY  a Consul session lock on KEY, for operators on different machines
//	none        no lock
//
// The keys file is --keys-file, else NVRUN_KEYS_FILE, else vault-keys.json, as vault.init
// resolves it: applies that share keys share a lock.
func applyLock(spec, keysFile string, env map[string]string) (runtime.Locker, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "":
		if keysFile == "" {
			keysFile = env["NVRUN_KEYS_FILE"]
		}
		if keysFile == "" {
			keysFile = "vault-keys.json"
		}
		return &runtime.FileLock{Path: keysFile + ".lock"}, nil
	case spec == "none":
		return nil, nil
	case kind == "file" && arg != "":
		return &runtime.FileLock{Path: arg}, nil
	case kind == "consul":
		return consul.NewLock(func(k string) string { return env[k] }, arg)
	}
	return nil, fmt.Errorf("--lock %q: want file:PATH, consul:KEY or none", spec)
}
