package nomadtest

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
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
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-ch:
				_ = s.Reload() // logged by Reload
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
