package nomad

import "go.starlark.net/starlark"

// builderNames are the job spec builders: they build values and touch no server.
var builderNames = []string{"job", "group", "task", "network", "service", "check", "vault", "identity", "template", "resources"}

// Builders returns nomad.job, nomad.group and the other job spec builders alone, which
// need no run: `nvrun test` offers them to test files, so that a test can describe a
// live job as a script writes it (state.nomad(jobs=[nomad.job(...)])).
func Builders() starlark.StringDict {
	all := (&module{}).members()
	out := make(starlark.StringDict, len(builderNames))
	for _, name := range builderNames {
		out[name] = all[name]
	}
	return out
}
