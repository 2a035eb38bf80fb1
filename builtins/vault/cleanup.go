package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Cleanups lets a host take over the end-of-run work (revoking the lease of a
// vault.read(..., revoke=True)) and run it when it chooses: tests use it to check the
// credentials really work before the lease goes. Without it (the CLI), the work is
// registered with the runtime's Run.Defer and runs when the script ends.
type Cleanups struct {
	mu    sync.Mutex
	tasks []cleanupTask
}

type cleanupTask struct {
	what string
	fn   func(context.Context) error
}

func (c *Cleanups) add(what string, fn func(context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tasks = append(c.tasks, cleanupTask{what, fn})
}

// Len is the number of pending tasks.
func (c *Cleanups) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tasks)
}

// Run performs the pending tasks, newest first (as defers do), and forgets them. It
// runs every task even if some fail, and returns their errors joined.
func (c *Cleanups) Run(ctx context.Context) error {
	c.mu.Lock()
	tasks := c.tasks
	c.tasks = nil
	c.mu.Unlock()
	var errs []error
	for i := len(tasks) - 1; i >= 0; i-- {
		if err := tasks[i].fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tasks[i].what, err))
		}
	}
	return errors.Join(errs...)
}

// atEnd schedules work for the end of the run: with the host's Cleanups if it set one,
// else with the runtime.
func (v *vault) atEnd(what string, fn func(context.Context) error) {
	if v.cfg.Cleanups != nil {
		v.cfg.Cleanups.add(what, fn)
		return
	}
	v.run.Defer(what, fn)
}
