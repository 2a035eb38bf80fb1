package vault

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"
)

// A script that declares many policies or token roles reads each one (GET) before it
// writes it, and on a Vault where most do not exist yet, half of those reads only learn
// "absent". So after a few reads of one collection, the module lists it once (one LIST
// request) and plans a name the list lacks as a create without reading it; a name the
// list has is still read, since a LIST returns names, not contents. Small scripts (the
// guide) never list. A LIST the token may not make, or that fails, leaves the module
// reading one by one, as before.
//
// The list is a snapshot, like each read: a name created by someone else after it is
// taken is planned as a create (and apply writes it, as it would have updated it). What
// this run writes itself is added to it; a vault.write or vault.delete under the
// collection's path drops it, to be listed again.

// collection is a set of named objects that one LIST enumerates.
type collection struct {
	list string // the LIST path
	// prefixes are the paths under which a generic write or delete changes the set.
	prefixes []string
}

var (
	policyCollection    = &collection{list: "sys/policies/acl", prefixes: []string{"sys/policies/acl/", "sys/policy/"}}
	tokenRoleCollection = &collection{list: "auth/token/roles", prefixes: []string{"auth/token/roles/"}}
	collections         = []*collection{policyCollection, tokenRoleCollection}
)

// listAfter is how many reads of one collection (in one namespace) go one by one before
// it is listed: a LIST costs one request, a skipped read saves one per absent name.
const listAfter = 3

// nameIndex is what one run knows of a collection in one namespace. A plan's reads
// ahead ask it from several goroutines at once: mu guards it, and is held during the
// LIST, so that the reads waiting for it make one LIST between them, not one each.
type nameIndex struct {
	mu     sync.Mutex
	reads  int             // reads asked for so far
	names  map[string]bool // the listed names; nil until listed
	failed bool            // the LIST failed: read one by one for the rest of the run
}

func (v *vault) nameIndex(ns string, coll *collection) *nameIndex {
	if ns == "" {
		ns = v.namespace
	}
	key := ns + "\x00" + coll.list
	v.indexMu.Lock()
	defer v.indexMu.Unlock()
	ix := v.indexes[key]
	if ix == nil {
		ix = &nameIndex{}
		v.indexes[key] = ix
	}
	return ix
}

// knownAbsent says whether name is known not to exist in coll, so that its read can be
// skipped; c is the client for namespace ns. It lists the collection once enough reads
// of it have been asked for.
func (v *vault) knownAbsent(ctx context.Context, c *api.Client, ns string, coll *collection, name string) bool {
	ix := v.nameIndex(ns, coll)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.reads++
	if ix.names == nil && !ix.failed && ix.reads > listAfter {
		sec, err := c.Logical().ListWithContext(ctx, coll.list)
		if err != nil {
			ix.failed = true // the one-by-one read reports any real problem (or finds Vault unreachable)
			return false
		}
		ix.names = map[string]bool{}
		if sec != nil { // nil: 404, nothing listed
			keys, _ := sec.Data["keys"].([]any)
			for _, k := range keys {
				if s, ok := k.(string); ok {
					ix.names[s] = true
				}
			}
		}
	}
	// Vault may store a name lower-cased: only a name already in its stored form can be
	// judged absent from the list.
	return ix.names != nil && name == strings.ToLower(name) && !ix.names[name]
}

// wrote notes that this run created or updated name in coll.
func (v *vault) wrote(ns string, coll *collection, name string) {
	ix := v.nameIndex(ns, coll)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.names != nil {
		ix.names[name] = true
	}
}

// wrotePath drops the index of any collection a generic write or delete of path (in
// namespace ns) may have changed.
func (v *vault) wrotePath(ns, path string) {
	for _, coll := range collections {
		for _, p := range coll.prefixes {
			if strings.HasPrefix(path, p) || path+"/" == p {
				ix := v.nameIndex(ns, coll)
				ix.mu.Lock()
				ix.names = nil
				ix.mu.Unlock()
			}
		}
	}
}

// initialised notes that this run just initialised Vault: a new Vault has no policies
// but default and root, and no token roles, so the first of them need no read either.
func (v *vault) initialised() {
	root := func(coll *collection) string { return "\x00" + coll.list }
	v.indexMu.Lock()
	defer v.indexMu.Unlock()
	v.indexes[root(policyCollection)] = &nameIndex{names: map[string]bool{"default": true, "root": true}}
	v.indexes[root(tokenRoleCollection)] = &nameIndex{names: map[string]bool{}}
}
