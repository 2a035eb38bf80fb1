package nomad

import (
	"context"

	"github.com/hashicorp/nomad/api"
)

// plansWithoutVault says whether Nomad plans job once its tasks' vault blocks are taken
// out. It decides whether a plan error, while an agent config change is pending, is one
// that change explains (Nomad runs without the vault block it adds: "Vault not enabled
// but used in the job") or a job Nomad refuses anyway (a validation error), which must
// fail the plan. The job itself is not changed; the copy shares everything but the
// group and task structs.
func (m *module) plansWithoutVault(ctx context.Context, c *api.Client, job *api.Job) bool {
	stripped := *job
	stripped.TaskGroups = make([]*api.TaskGroup, len(job.TaskGroups))
	for i, g := range job.TaskGroups {
		gc := *g
		gc.Tasks = make([]*api.Task, len(g.Tasks))
		for j, t := range g.Tasks {
			tc := *t
			tc.Vault = nil
			gc.Tasks[j] = &tc
		}
		stripped.TaskGroups[i] = &gc
	}
	_, _, err := c.Jobs().Plan(&stripped, false, writeOptions(ctx, deref(job.Namespace), deref(job.Region)))
	return err == nil
}
