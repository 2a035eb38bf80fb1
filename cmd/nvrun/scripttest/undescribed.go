package scripttest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// reachedServers stops an apply() that contacts a server the test does not describe.
// A plan plans such a server as offline, as nvrun does; an apply cannot: it would wait
// (consul.wait, an http retry, Nomad's restart patience) for a server that will never
// answer. So the first contact cancels the run, and the error names the server and the
// state.<kind>(...) that would describe it.
type reachedServers struct {
	mu     sync.Mutex
	kinds  map[string]bool
	cancel context.CancelCauseFunc
}

func stopOnUndescribed(ctx context.Context) (context.Context, *reachedServers) {
	ctx, cancel := context.WithCancelCause(ctx)
	return ctx, &reachedServers{kinds: map[string]bool{}, cancel: cancel}
}

func (r *reachedServers) add(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.kinds[kind] {
		r.kinds[kind] = true
		r.cancel(fmt.Errorf("apply() reached %s, which the test's state does not describe", kind))
	}
}

func (r *reachedServers) stop() { r.cancel(nil) }

// explain puts the servers reached first in the run's error message.
func (r *reachedServers) explain(msg string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.kinds) == 0 {
		return msg
	}
	var names, hints []string
	for k := range r.kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		hints = append(hints, "state."+k+"(...)")
	}
	return fmt.Sprintf("apply() reached %s, which the test's state does not describe: add %s to state=[...]\n%s",
		strings.Join(names, " and "), strings.Join(hints, ", "), msg)
}
