package nomad

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// guideSteps is testdata/guide_steps.star: guide steps 6, 7, 8 and 14 as the report
// hands them to scripts/guide.star (which declares the vars they use).
var guideSteps = mustReadFile(filepath.Join("testdata", "guide_steps.star"))

// guideJobs is the job definitions of steps 8 and 14 alone (from "db_job = " on, without
// step() and nomad.run() lines), for tests that only build specs. Tests prepend the
// vars it uses (guideVars).
var guideJobs = func() string {
	src := guideSteps[strings.Index(guideSteps, "db_job = nomad.job("):]
	var keep []string
	for _, line := range strings.Split(src, "\n") {
		if !strings.HasPrefix(line, "step(") && !strings.HasPrefix(line, "nomad.run(") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}()

// guideVars are the guide's defaults for the vars guideJobs uses.
const guideVars = `
datacenters = ["dc1"]
nomad_namespace = "default"
nomad_region = "global"
db_image = "hashicorp/postgres-nomad-demo:latest"
web_image = "hashicorp/nomad-vault-demo:latest"
web_service = "nomad-vault-demo"
task_policy = "access-tables"
db_mount = "database"
db_role = "accessdb"
`

// guideVarDecls are the var() declarations of scripts/guide.star and of the database
// library it loads, so that the snippet is tested against the names and defaults the
// real guide declares.
var guideVarDecls = func() string {
	src := mustReadFile(filepath.Join("..", "..", "scripts", "guide.star")) +
		mustReadFile(filepath.Join("..", "..", "scripts", "lib", "database.star"))
	re := regexp.MustCompile(`(?m)^[a-z_]+ = var\(.*\)$`)
	return strings.Join(re.FindAllString(src, -1), "\n") + "\n"
}()

func mustReadFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}
