package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

// maxTaskEvents is Nomad's MaxRetainedTaskEvents.
const maxTaskEvents = 10

// Task event types nomad/api has no constant for.
const (
	taskHookFailed    = "Task hook failed"
	taskTemplateEvent = "Template"
)

// taskRunner runs one task of an allocation: task directory, Vault token, templates,
// then the driver (a real process for raw_exec, nothing for a simulated driver),
// services, and the kill.
type taskRunner struct {
	ar    *allocRunner
	s     *Server
	alloc *api.Allocation // as placed: job, IDs, allocated resources
	task  *api.Task
	nets  []*api.NetworkResource
	dir   string

	killOnce  sync.Once
	killCh    chan struct{}
	killEvent *api.TaskEvent // what the kill reports, nil for a plain stop
	gate      chan struct{}  // closed when the task's lifecycle phase may start
	started   chan struct{}  // closed when the task runs (or will not)
	done      chan struct{}

	mu         sync.Mutex
	proc       *os.Process
	execAs     execContext // how the running process was started, for exec (alloc_exec.go)
	vault      vaultLease
	services   []string
	registered bool // its services are in Consul (or it has none to register)
}

func newTaskRunner(ar *allocRunner, a *api.Allocation, t *api.Task, nets []*api.NetworkResource) *taskRunner {
	return &taskRunner{
		ar:      ar,
		s:       ar.s,
		alloc:   a,
		task:    t,
		nets:    nets,
		dir:     taskDirPath(ar.s.cfg.DataDir, a.ID, t.Name),
		killCh:  make(chan struct{}),
		started: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (tr *taskRunner) pid() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.proc == nil {
		return 0
	}
	select {
	case <-tr.done:
		return 0
	default:
		return tr.proc.Pid
	}
}

// kill asks the task to stop; ev is the Killing event to report (nil: Nomad's plain
// "Sent interrupt" event).
func (tr *taskRunner) kill(ev *api.TaskEvent) {
	tr.killOnce.Do(func() {
		tr.killEvent = ev
		close(tr.killCh)
	})
}

func (tr *taskRunner) killed() bool {
	select {
	case <-tr.killCh:
		return true
	default:
		return false
	}
}

// update changes this task's state (creating it) and appends events.
func (tr *taskRunner) update(fn func(ts *api.TaskState), events ...*api.TaskEvent) {
	tr.s.updateAlloc(tr.alloc.ID, func(a *api.Allocation) {
		if a.TaskStates == nil {
			a.TaskStates = map[string]*api.TaskState{}
		}
		ts := a.TaskStates[tr.task.Name]
		if ts == nil {
			ts = &api.TaskState{State: "pending"}
			a.TaskStates[tr.task.Name] = ts
		}
		if fn != nil {
			fn(ts)
		}
		for _, ev := range events {
			ts.Events = append(ts.Events, ev)
			if len(ts.Events) > maxTaskEvents {
				ts.Events = ts.Events[len(ts.Events)-maxTaskEvents:]
			}
		}
	})
}

func (tr *taskRunner) emit(events ...*api.TaskEvent) { tr.update(nil, events...) }

// finish marks the task dead.
func (tr *taskRunner) finish(failed bool, events ...*api.TaskEvent) {
	tr.update(func(ts *api.TaskState) {
		ts.State = "dead"
		ts.Failed = ts.Failed || failed
		ts.FinishedAt = time.Now()
	}, events...)
}

// fail ends the task as failed with ev and has the allocation kill its siblings.
func (tr *taskRunner) fail(ev *api.TaskEvent) {
	ev.FailsTask = true
	ev.Details["fails_task"] = "true"
	tr.finish(true, ev)
	tr.ar.taskFailed(tr.task.Name)
}

func (tr *taskRunner) run() {
	defer close(tr.done)
	defer func() {
		select {
		case <-tr.started:
		default:
			close(tr.started)
		}
	}()
	defer tr.cleanup()

	select {
	case <-tr.gate:
	case <-tr.killCh:
	}
	if tr.killed() {
		tr.finishKilled()
		return
	}
	tr.emit(taskSetupEvent("Building Task Directory"))
	if tr.s.cfg.InMemory {
		// No directory, token, identity or template: the task starts at once.
		tr.runSimulated()
		return
	}
	uid, gid, err := tr.buildDir()
	if err != nil {
		ev := newEvent(api.TaskSetupFailure, err.Error())
		ev.SetupError = err.Error()
		ev.Details["setup_error"] = err.Error()
		tr.fail(ev)
		return
	}
	if tr.killed() {
		tr.finishKilled()
		return
	}

	env := tr.buildEnv("")
	if v := tr.task.Vault; v != nil {
		lease, ev := tr.s.deriveVaultToken(tr.alloc, tr.task)
		if ev != nil {
			tr.fail(ev)
			return
		}
		tr.mu.Lock()
		tr.vault = lease
		tr.mu.Unlock()
		if !boolv(v.DisableFile) {
			path := filepath.Join(tr.dir, "secrets", "vault_token")
			if err := os.WriteFile(path, []byte(lease.token), 0o600); err != nil {
				tr.fail(newEvent(api.TaskSetupFailure, "failed to write vault token: "+err.Error()))
				return
			}
			if uid >= 0 {
				_ = os.Chown(path, uid, gid)
			}
		}
		if boolv(v.Env) {
			env = tr.buildEnv(lease.token)
		}
	}
	if ev := tr.exposeIdentities(env, uid, gid); ev != nil {
		tr.fail(ev)
		return
	}
	if len(tr.task.Templates) > 0 {
		extra, ev, killed := tr.renderTemplates(env)
		if killed {
			tr.finishKilled()
			return
		}
		if ev != nil {
			tr.fail(ev)
			if ev.Type == taskHookFailed {
				tr.emit(notRestartingEvent(reasonUnrecoverable))
			}
			return
		}
		for k, v := range extra {
			env[k] = v
		}
	}
	if tr.killed() {
		tr.finishKilled()
		return
	}

	if tr.task.Driver == "raw_exec" {
		tr.runProcess(env, uid, gid)
	} else {
		tr.runSimulated()
	}
}

func taskSetupEvent(msg string) *api.TaskEvent {
	ev := newEvent(api.TaskSetup, msg)
	ev.Message = msg
	ev.Details["message"] = msg
	return ev
}

// finishKilled ends a task that was stopped before it started.
func (tr *taskRunner) finishKilled() {
	tr.finish(false, newEvent(api.TaskKilled, "Task successfully killed"))
}

// buildDir makes local/, secrets/ (0700) and tmp/ and hands them to the task user.
// It returns the user's uid/gid, or -1 when the task runs as the double's user.
func (tr *taskRunner) buildDir() (int, int, error) {
	uid, gid := -1, -1
	if tr.task.User != "" {
		u, err := user.Lookup(tr.task.User)
		if err != nil {
			return 0, 0, fmt.Errorf("Failed to build task directory for %q: failed to look up user %q: %v", tr.task.Name, tr.task.User, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		if dir := unsearchableParent(tr.s.cfg.DataDir, uid); dir != "" {
			return 0, 0, fmt.Errorf("Failed to build task directory for %q: user %q cannot reach it: %s is not searchable by others (put the data dir under a world-searchable directory)", tr.task.Name, tr.task.User, dir)
		}
	}
	for sub, perm := range map[string]os.FileMode{"": 0o755, "local": 0o777, "secrets": 0o700, "tmp": 0o777} {
		p := filepath.Join(tr.dir, sub)
		if err := os.MkdirAll(p, perm); err != nil {
			return 0, 0, fmt.Errorf("Failed to build task directory for %q: %v", tr.task.Name, err)
		}
		if err := os.Chmod(p, perm); err != nil {
			return 0, 0, fmt.Errorf("Failed to build task directory for %q: %v", tr.task.Name, err)
		}
		if uid >= 0 {
			if err := os.Chown(p, uid, gid); err != nil {
				return 0, 0, fmt.Errorf("Failed to build task directory for %q: %v", tr.task.Name, err)
			}
		}
	}
	if tr.task.Driver == "raw_exec" {
		// raw_exec has no chroot: the task sees the real alloc dir through its env.
		link := filepath.Join(tr.dir, "alloc")
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			_ = os.Symlink(filepath.Join(tr.ar.allocDir, "alloc"), link)
		}
	}
	return uid, gid, nil
}

func (tr *taskRunner) runSimulated() {
	tr.update(func(ts *api.TaskState) {
		ts.State = "running"
		ts.StartedAt = time.Now()
	}, newEvent(api.TaskStarted, "Task started by client"))
	close(tr.started)
	tr.registerServices()
	<-tr.killCh
	tr.deregisterServices()
	if ev := tr.killEvent; ev != nil {
		tr.emit(ev)
	}
	tr.emit(killingEvent(tr.killTimeout()))
	tr.finishKill(nil)
}

func (tr *taskRunner) runProcess(env map[string]string, uid, gid int) {
	command, args, verr := tr.rawExecConfig(env)
	if verr != nil {
		ev := newEvent(api.TaskFailedValidation, verr.Error())
		ev.ValidationError = verr.Error()
		ev.Details["validation_error"] = verr.Error()
		tr.fail(ev)
		tr.emit(notRestartingEvent(reasonUnrecoverable))
		return
	}
	logDir := filepath.Join(tr.ar.allocDir, "alloc", "logs")
	stdout, err1 := os.OpenFile(filepath.Join(logDir, tr.task.Name+".stdout.0"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	stderr, err2 := os.OpenFile(filepath.Join(logDir, tr.task.Name+".stderr.0"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err := errors.Join(err1, err2); err != nil {
		tr.fail(newEvent(api.TaskSetupFailure, err.Error()))
		return
	}
	defer stdout.Close()
	defer stderr.Close()

	tracker := newRestartTracker(tr.alloc.Job, lookupGroup(tr.alloc.Job, tr.alloc.TaskGroup), tr.task, tr.mustKeepRunning())
	for tr.runOnce(command, args, env, uid, gid, stdout, stderr, tracker) {
	}
}

// runOnce starts the task's process and waits for it to exit or be killed. It reports
// whether the restart policy restarts the task (after the delay it already waited).
func (tr *taskRunner) runOnce(command string, args []string, env map[string]string, uid, gid int, stdout, stderr *os.File, tracker *restartTracker) bool {
	cmd := exec.Command(command, args...)
	cmd.Dir = tr.dir
	cmd.Env = envList(env)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := cmd.Start(); err != nil {
		msg := fmt.Sprintf("failed to launch command with executor: rpc error: code = Unknown desc = %v", err)
		ev := newEvent(api.TaskDriverFailure, msg)
		ev.DriverError = msg
		ev.Details["driver_error"] = msg
		// A start error the driver does not mark recoverable is not restarted.
		tr.finish(true, ev, notRestartingEvent(reasonUnrecoverable))
		tr.ar.taskFailed(tr.task.Name)
		return false
	}
	tr.mu.Lock()
	tr.proc = cmd.Process
	tr.execAs = execContext{env: env, uid: uid, gid: gid}
	tr.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	tr.update(func(ts *api.TaskState) {
		ts.State = "running"
		ts.StartedAt = time.Now()
	}, newEvent(api.TaskStarted, "Task started by client"))
	select {
	case <-tr.started:
	default:
		close(tr.started)
	}
	tr.registerServices()

	select {
	case err := <-exited:
		tr.deregisterServices()
		tr.mu.Lock()
		tr.proc = nil
		tr.mu.Unlock()
		code, sig := exitStatus(cmd, err)
		decision, delay, reason := tracker.next(code == 0 && sig == 0)
		switch decision {
		case restartNo:
			tr.finish(false, terminatedEvent(code, sig))
			return false
		case restartNotAllowed:
			tr.finish(true, terminatedEvent(code, sig), notRestartingEvent(reason))
			tr.ar.taskFailed(tr.task.Name)
			return false
		}
		tr.update(func(ts *api.TaskState) {
			ts.State = "pending"
			ts.Restarts++
			ts.LastRestart = time.Now()
		}, terminatedEvent(code, sig), restartingEvent(delay, reason))
		select {
		case <-time.After(delay):
			return !tr.killed()
		case <-tr.killCh:
			if ev := tr.killEvent; ev != nil {
				tr.emit(ev)
			}
			tr.finishKilled()
			return false
		}
	case <-tr.killCh:
		tr.deregisterServices()
		tr.killProcess(cmd.Process, exited)
		return false
	}
}

// mustKeepRunning: a service or system task that exits, even successfully, is
// restarted (and failed once the restart attempts are spent); batch tasks and
// ephemeral lifecycle tasks may finish (the restart tracker's onSuccess).
func (tr *taskRunner) mustKeepRunning() bool {
	switch str(tr.alloc.Job.Type) {
	case api.JobTypeService, api.JobTypeSystem:
	default:
		return false
	}
	if lc := tr.task.Lifecycle; lc != nil && !lc.Sidecar {
		return false
	}
	return true
}

func (tr *taskRunner) killTimeout() time.Duration {
	if tr.ar.grace > 0 {
		return tr.ar.grace
	}
	if d := dur(tr.task.KillTimeout); d > 0 {
		return d
	}
	return 5 * time.Second
}

func killingEvent(timeout time.Duration) *api.TaskEvent {
	ev := newEvent(api.TaskKilling, fmt.Sprintf("Sent interrupt. Waiting %v before force killing", timeout))
	ev.KillTimeout = timeout
	ev.Details["kill_timeout"] = timeout.String()
	return ev
}

func (tr *taskRunner) killProcess(p *os.Process, exited chan error) {
	timeout := tr.killTimeout()
	if ev := tr.killEvent; ev != nil {
		tr.emit(ev)
	}
	tr.emit(killingEvent(timeout))
	sig := syscall.SIGINT
	if s, ok := signalByName[strings.ToUpper(tr.task.KillSignal)]; ok {
		sig = s
	}
	_ = syscall.Kill(-p.Pid, sig)
	var err error
	select {
	case err = <-exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		err = <-exited
	}
	// Leave no straggler of the task's process group behind.
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	code, s := exitStatusErr(err)
	tr.finishKill(terminatedEvent(code, s))
}

// finishKill ends a killed task: Terminated (if it ran a process), then Killed.
func (tr *taskRunner) finishKill(terminated *api.TaskEvent) {
	var events []*api.TaskEvent
	if terminated != nil {
		events = append(events, terminated)
	}
	events = append(events, newEvent(api.TaskKilled, "Task successfully killed"))
	tr.finish(false, events...)
}

func terminatedEvent(code, sig int) *api.TaskEvent {
	msg := fmt.Sprintf("Exit Code: %d", code)
	if sig != 0 {
		msg += fmt.Sprintf(", Signal: %d", sig)
	}
	ev := newEvent(api.TaskTerminated, msg)
	ev.ExitCode, ev.Signal = code, sig
	ev.Details["exit_code"] = strconv.Itoa(code)
	ev.Details["signal"] = strconv.Itoa(sig)
	ev.Details["oom_killed"] = "false"
	return ev
}

func exitStatus(cmd *exec.Cmd, err error) (int, int) {
	if cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), int(ws.Signal())
			}
			return ws.ExitStatus(), 0
		}
	}
	return exitStatusErr(err)
}

func exitStatusErr(err error) (int, int) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), int(ws.Signal())
			}
			return ws.ExitStatus(), 0
		}
		return ee.ExitCode(), 0
	}
	if err != nil {
		return 1, 0
	}
	return 0, 0
}

var signalByName = map[string]syscall.Signal{
	"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM, "SIGKILL": syscall.SIGKILL,
	"SIGHUP": syscall.SIGHUP, "SIGQUIT": syscall.SIGQUIT, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2,
}

// rawExecConfig decodes raw_exec's config {command, args} with interpolation.
func (tr *taskRunner) rawExecConfig(env map[string]string) (string, []string, error) {
	cfg := tr.task.Config
	for k := range cfg {
		switch k {
		case "command", "args", "cgroup_v1_override", "oom_score_adj", "work_dir", "denied_envvars":
		default:
			return "", nil, fmt.Errorf("failed to parse config: \n* Unsupported argument: An argument named %q is not expected here.", k)
		}
	}
	command, ok := cfg["command"].(string)
	if !ok || command == "" {
		return "", nil, errors.New("failed to parse config: \n* Missing required argument: The argument \"command\" is required, but no definition was found.")
	}
	command = tr.s.interpolate(command, env)
	var args []string
	if raw, present := cfg["args"]; present {
		list, ok := raw.([]any)
		if !ok {
			return "", nil, errors.New("failed to parse config: \n* Incorrect attribute value type: Inappropriate value for attribute \"args\": list of string required.")
		}
		for _, a := range list {
			sv, ok := a.(string)
			if !ok {
				sv = fmt.Sprint(a)
			}
			args = append(args, tr.s.interpolate(sv, env))
		}
	}
	if !strings.Contains(command, "/") {
		// Nomad resolves a bare command against the task's PATH, then the task dir.
		if p, err := lookPath(command, env["PATH"]); err == nil {
			command = p
		} else if _, err := os.Stat(filepath.Join(tr.dir, command)); err == nil {
			command = filepath.Join(tr.dir, command)
		}
	} else if !filepath.IsAbs(command) {
		command = filepath.Join(tr.dir, command)
	}
	return command, args, nil
}

func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// cleanup revokes the task's Vault token.
func (tr *taskRunner) cleanup() {
	tr.mu.Lock()
	lease := tr.vault
	tr.vault = vaultLease{}
	tr.mu.Unlock()
	if lease.accessor != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr.s.revokeVaultToken(ctx, lease.accessor)
	}
}

// unsearchableParent returns the first directory from dir up to / that uid cannot
// search (no o+x and not its owner), or "".
func unsearchableParent(dir string, uid int) string {
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil {
			owner := -1
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				owner = int(sys.Uid)
			}
			if st.Mode().Perm()&0o001 == 0 && owner != uid {
				return d
			}
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}
