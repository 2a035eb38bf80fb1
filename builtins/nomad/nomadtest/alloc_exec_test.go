package nomadtest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// TestAllocExec: a command runs in a running raw_exec task's directory and
// environment, with stdin, stdout, stderr and its exit code; bad requests close the
// websocket with Nomad's texts.
func TestAllocExec(t *testing.T) {
	srv, client := newDouble(t, Config{})
	if _, _, err := client.Jobs().Register(rawJob("ex", "sleep 30"), nil); err != nil {
		t.Fatal(err)
	}
	alloc := waitAlloc(t, srv, "ex", 30*time.Second, "running", func(a *api.Allocation) bool { return a.ClientStatus == "running" })
	full, _, err := client.Allocations().Info(alloc.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	stdin := strings.NewReader("from stdin\n")
	code, err := client.Allocations().Exec(context.Background(), full, "server", false,
		[]string{"/bin/sh", "-c", `read line; echo "$line in $(pwd) for $NOMAD_TASK_NAME"; echo oops >&2; exit 3`},
		stdin, &stdout, &stderr, make(chan api.TerminalSize), nil)
	if err != nil || code != 3 {
		t.Fatalf("exec: code %d, %v", code, err)
	}
	want := fmt.Sprintf("from stdin in %s for server\n", srv.TaskDir(alloc.ID, "server"))
	if stdout.String() != want || stderr.String() != "oops\n" {
		t.Errorf("stdout %q (want %q), stderr %q", stdout.String(), want, stderr.String())
	}

	for _, c := range []struct {
		task    string
		command []string
		alloc   *api.Allocation
		want    string
	}{
		{"server", []string{"true"}, &api.Allocation{ID: "8E231CF4-CA48-43FF-B694-5801E69E22FA", NodeID: full.NodeID}, `Unknown allocation "8E231CF4-CA48-43FF-B694-5801E69E22FA"`},
		{"", []string{"true"}, full, "must provide task name"},
		{"server", []string{}, full, "command is not present"},
		{"nope", []string{"true"}, full, "task not found"},
	} {
		code, err := client.Allocations().Exec(context.Background(), c.alloc, c.task, false, c.command,
			strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, make(chan api.TerminalSize), nil)
		if code != -2 || err == nil || err.Error() != c.want {
			t.Errorf("exec %q %v: %d, %v; want %q", c.task, c.command, code, err, c.want)
		}
	}
}
