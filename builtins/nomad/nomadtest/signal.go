package nomadtest

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ReloadOnSIGHUP makes the double reload its agent configuration when the process
// receives SIGHUP, as a Nomad agent does (`systemctl reload nomad`, `kill -HUP`). The
// double runs inside its host process (a test, or `make demo`), so an agent_config
// on_change command such as ["/bin/sh", "-c", "kill -HUP <pid>"] reaches it. Reload
// errors are logged and the previous configuration stays. The returned function stops
// the handling; Close stops it too.
func (s *Server) ReloadOnSIGHUP() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	s.reloads.init(s)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-ch:
				time.Sleep(s.reloads.delay) // a test's slow agent
				_ = s.Reload()              // logged by Reload
				s.reloads.done()
			case <-done:
				return
			case <-s.ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	// The channel stays registered: a late SIGHUP must not fall back to the default
	// action and kill the host process.
	return func() { once.Do(func() { close(done) }) }
}

// ReloadCommand is an agent_config on_change command for a double with ReloadOnSIGHUP
// on: it sends SIGHUP to the host process and returns once this double has re-read its
// configuration (or failed to, keeping the old one), as `systemctl restart nomad`
// returns once the agent is back. A bare `kill -HUP` returns at once, so the next
// request of the same apply raced the reload ("Vault not enabled but used in the job").
// It gives up after 10s, with an error.
func (s *Server) ReloadCommand() []string {
	s.reloads.init(s)
	f := strconv.Quote(s.reloads.file)
	script := "n=$(cat " + f + ") && kill -HUP " + strconv.Itoa(os.Getpid()) + " && i=0 && " +
		"while [ \"$(cat " + f + ")\" = \"$n\" ]; do i=$((i+1)); " +
		"if [ $i -gt 1000 ]; then echo 'the Nomad double did not reload within 10s' >&2; exit 1; fi; sleep 0.01; done"
	return []string{"/bin/sh", "-c", script}
}

// reloadCounter counts the SIGHUP reloads done, in a file ReloadCommand's shell polls.
type reloadCounter struct {
	once sync.Once
	file string
	n    atomic.Int64
	s    *Server
	// delay holds each reload back, as a slow agent would (tests only).
	delay time.Duration
}

func (c *reloadCounter) init(s *Server) {
	c.once.Do(func() {
		c.s = s
		dir, err := os.MkdirTemp("", "nomadtest-reloads-")
		if err != nil {
			panic(fmt.Sprintf("nomadtest: reload counter: %v", err))
		}
		c.file = filepath.Join(dir, "reloads")
		c.write()
	})
}

func (c *reloadCounter) done() {
	c.n.Add(1)
	c.write()
}

// write replaces the file atomically, so the shell never reads a half-written number.
func (c *reloadCounter) write() {
	tmp := c.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(c.n.Load(), 10)), 0o600); err == nil {
		err = os.Rename(tmp, c.file)
		if err != nil {
			c.s.logf("reload counter: %v", err)
		}
	}
}

// remove deletes the counter's file (Close).
func (c *reloadCounter) remove() {
	if c.file != "" {
		os.RemoveAll(filepath.Dir(c.file))
	}
}
