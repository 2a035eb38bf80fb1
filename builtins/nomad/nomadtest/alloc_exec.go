package nomadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/nomad/api"
)

// Allocation exec (/v1/client/allocation/<id>/exec): a websocket on which the client
// sends ExecStreamingInput frames (stdin, terminal size, heartbeats) and the double
// answers ExecStreamingOutput frames (stdout, stderr, then the exit code), as Nomad's
// raw_exec does: the command runs in the task's directory, with its environment and
// user. Errors close the websocket with Nomad's text and close code. Without a
// terminal library the double runs no command with tty=true (doc.go).

// execContext is how a task's process was started.
type execContext struct {
	env      map[string]string
	uid, gid int
}

var execUpgrader = websocket.Upgrader{
	ReadBufferSize:  2048,
	WriteBufferSize: 2048,
	CheckOrigin:     func(*http.Request) bool { return true },
}

// execError is an exec failure with the HTTP code Nomad's client gives it.
type execError struct {
	code int
	msg  string
}

func (e *execError) Error() string { return e.msg }

// wsCode is Nomad's toWsCode: 500 is an internal error, anything else a policy
// violation.
func wsCode(httpCode int) int {
	if httpCode == http.StatusInternalServerError {
		return websocket.CloseInternalServerErr
	}
	return websocket.ClosePolicyViolation
}

// clientAllocationRequest serves the client's allocation endpoints the double has:
// exec (a websocket, outside wrap).
func (s *Server) clientAllocationRequest(w http.ResponseWriter, r *http.Request) {
	parts := pathParts(r, "/v1/client/allocation/")
	if len(parts) == 2 && parts[1] == "exec" {
		s.allocExec(w, r, parts[0])
		return
	}
	writeError(w, coded(http.StatusNotFound, "Invalid URL"))
}

func (s *Server) allocExec(w http.ResponseWriter, r *http.Request, allocID string) {
	q := r.URL.Query()
	var command []string
	if err := json.Unmarshal([]byte(q.Get("command")), &command); err != nil {
		writeError(w, rpcError(fmt.Errorf("failed to marshal command into json: %v", err)))
		return
	}
	tty := false
	if v := q.Get("tty"); v != "" {
		var err error
		if tty, err = strconv.ParseBool(v); err != nil {
			writeError(w, rpcError(fmt.Errorf("tty value is not a boolean: %v", err)))
			return
		}
	}
	conn, err := execUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	closeWith := func(code int, text string) {
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, text))
	}
	if v := q.Get("ws_handshake"); v != "" {
		if h, err := strconv.ParseBool(v); err != nil {
			closeWith(wsCode(400), fmt.Sprintf("ws_handshake value is not a boolean: %v", err))
			return
		} else if h {
			var hs struct {
				Version   int    `json:"version"`
				AuthToken string `json:"auth_token"`
			}
			if err := conn.ReadJSON(&hs); err != nil {
				closeWith(wsCode(400), err.Error())
				return
			}
			if hs.Version != 1 {
				closeWith(wsCode(400), fmt.Sprintf("unexpected handshake value: %v", hs.Version))
				return
			}
		}
	}
	tr, err := s.execTarget(allocID, q.Get("task"), command, tty)
	if err != nil {
		var ee *execError
		code := http.StatusInternalServerError
		if errors.As(err, &ee) {
			code = ee.code
		}
		closeWith(wsCode(code), err.Error())
		return
	}
	exitCode, err := tr.exec(conn, command)
	if err != nil {
		closeWith(wsCode(500), err.Error())
		return
	}
	out := api.ExecStreamingOutput{Exited: true, Result: &api.ExecStreamingExitResult{ExitCode: exitCode}}
	if err := conn.WriteJSON(&out); err == nil {
		closeWith(websocket.CloseNormalClosure, "")
	}
}

// execTarget checks an exec request as Nomad's client does, in its order and with
// its texts, and returns the task's runner.
func (s *Server) execTarget(allocID, task string, command []string, tty bool) (*taskRunner, error) {
	s.mu.Lock()
	e := s.allocs[allocID]
	s.mu.Unlock()
	if allocID == "" {
		return nil, &execError{400, "must provide a valid alloc id"}
	}
	if e == nil || e.runner == nil {
		return nil, &execError{404, fmt.Sprintf("Unknown allocation %q", allocID)}
	}
	if task == "" {
		return nil, &execError{400, "must provide task name"}
	}
	if len(command) == 0 {
		return nil, &execError{400, "command is not present"}
	}
	tr := e.runner.tasks[task]
	if tr == nil {
		return nil, &execError{500, "task not found"}
	}
	state := e.runner.snapshot().TaskStates[task]
	if state == nil {
		return nil, &execError{400, fmt.Sprintf("unknown task name %q", task)}
	}
	if state.StartedAt.IsZero() {
		return nil, &execError{404, fmt.Sprintf("task %q not started yet.", task)}
	}
	if tr.pid() == 0 {
		return nil, &execError{404, fmt.Sprintf("task %q is not running.", task)}
	}
	if tty {
		return nil, &execError{500, "the nomadtest double runs no exec command with a terminal (tty)"}
	}
	return tr, nil
}

// exec runs command as the task's process runs, feeding it the websocket's stdin and
// streaming its output, and returns its exit code.
func (tr *taskRunner) exec(conn *websocket.Conn, command []string) (int, error) {
	tr.mu.Lock()
	as := tr.execAs
	tr.mu.Unlock()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Dir = tr.dir
	cmd.Env = envList(as.env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if as.uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(as.uid), Gid: uint32(as.gid)}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	var writeMu sync.Mutex
	send := func(out *api.ExecStreamingOutput) error {
		writeMu.Lock()
		defer writeMu.Unlock()
		return conn.WriteJSON(out)
	}
	cmd.Stdout = frameWriter(func(b []byte) error {
		return send(&api.ExecStreamingOutput{Stdout: &api.ExecStreamingIOOperation{Data: b}})
	})
	cmd.Stderr = frameWriter(func(b []byte) error {
		return send(&api.ExecStreamingOutput{Stderr: &api.ExecStreamingIOOperation{Data: b}})
	})
	if err := cmd.Start(); err != nil {
		// raw_exec's executor reports a missing command like this.
		return 0, fmt.Errorf("failed to start command: %v", err)
	}
	go func() {
		defer stdin.Close()
		for {
			var in api.ExecStreamingInput
			if err := conn.ReadJSON(&in); err != nil {
				_ = cmd.Process.Kill() // the client went away
				return
			}
			if in.Stdin != nil {
				if len(in.Stdin.Data) > 0 {
					_, _ = stdin.Write(in.Stdin.Data)
				}
				if in.Stdin.Close {
					_ = stdin.Close()
				}
			}
		}
	}()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), nil
	}
	return 0, err
}

// frameWriter sends each write as one output frame.
type frameWriter func([]byte) error

func (f frameWriter) Write(b []byte) (int, error) {
	if err := f(append([]byte(nil), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

var _ io.Writer = frameWriter(nil)
