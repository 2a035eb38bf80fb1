package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
	"github.com/nvrun/nvrun/runtime/runtimetest"
)

// asCLIEnv makes the test binary, run as a child process, be the nvrun command itself,
// so that tests can send it real signals and read its exit code.
const asCLIEnv = "NVRUN_TEST_AS_CLI"

// The CLI tests run from the repository root, so that script paths and the positions in
// messages read as a user would type them (testdata/bad/x.star:3).
func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" { // the test binary as the real command (a child process)
		os.Args = append([]string{"nvrun"}, os.Args[1:]...)
		main()
		return
	}
	if err := os.Chdir(testserver.RepoRoot()); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

type cli struct {
	code           int
	stdout, stderr string
}

// nvrun runs the CLI with a probe module (whose writes srv counts) and env as the whole
// environment.
func nvrun(t *testing.T, srv *runtimetest.Server, env []string, args ...string) cli {
	t.Helper()
	var out, errb bytes.Buffer
	var extra []runtime.Module
	if srv != nil {
		extra = append(extra, runtimetest.Module(srv))
	}
	if env == nil {
		env = []string{}
	}
	code := Main(context.Background(), args, env, &out, &errb, extra)
	return cli{code: code, stdout: out.String(), stderr: errb.String()}
}

func writeScript(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "main.star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
