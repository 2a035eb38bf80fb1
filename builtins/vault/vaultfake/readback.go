package vaultfake

// Read-back helpers for Go tests: what the fake holds now.

// Policy returns the text of the named policy, "" if there is none.
func (f *Fake) Policy(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.policies[name]
}

// TokenRole returns the named token role as Vault reads it back, nil if there is none.
func (f *Fake) TokenRole(name string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.tokenRoles[name]; r != nil {
		return cloneMap(r)
	}
	return nil
}

// MountType returns the type of the secrets engine at path ("database"), "" if none.
func (f *Fake) MountType(path string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.mounts[path+"/"]; m != nil {
		return m.Type
	}
	return ""
}

// Path returns what a generic path holds (kv, database config and roles, jwt config
// and roles), as Vault reads it back; nil if nothing.
func (f *Fake) Path(path string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.data[path]; d != nil {
		return cloneMap(d)
	}
	return nil
}

// Sealed reports whether the fake is sealed (or not initialised).
func (f *Fake) Sealed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sealed || !f.initialized
}

// Leases counts the leases not revoked.
func (f *Fake) Leases() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.leases)
}
