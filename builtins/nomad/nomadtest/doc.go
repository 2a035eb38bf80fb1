// Package nomadtest is a strict in-process double of a Nomad 1.6 agent (server and one
// client node) for tests, used through github.com/hashicorp/nomad/api like a real
// cluster, the way net/http/httptest stands in for an HTTP server:
//
//	srv, err := nomadtest.New(nomadtest.Config{AgentConfigPath: cfg, ConsulAddr: consul.HTTPAddr})
//	defer srv.Close()
//	client, _ := api.NewClient(&api.Config{Address: srv.URL})
//
// The Nomad server cannot be had for the test substrate (its module is not served, and
// Nomad 1.7+ is not open source), so the double reimplements what the guide's Vault setup
// needs, and checks it for real: raw_exec tasks are real processes; a task's Vault token
// is created through auth/token/create/<create_from_role> with the server token of the
// agent config file, response-wrapped and unwrapped, as Nomad 1.6 does; templates are
// rendered by consul-template against the real Vault and Consul; services and checks are
// registered in the real Consul.
//
// # Endpoints
//
//	GET PUT POST /v1/jobs                          list, register
//	GET POST PUT DELETE /v1/job/:id                read, register, stop (?purge=true)
//	PUT POST /v1/job/:id/plan                      dry run, with a structured diff
//	GET /v1/job/:id/{allocations,evaluations,deployments,deployment,versions,summary}
//	GET /v1/allocations, /v1/allocation/:id
//	GET /v1/evaluations, /v1/evaluation/:id, /v1/evaluation/:id/allocations
//	GET /v1/deployments, /v1/deployment/:id, /v1/deployment/allocations/:id
//	GET /v1/agent/self, /v1/agent/health, /v1/status/leader, /v1/status/peers
//	GET /v1/regions, /v1/nodes, /v1/namespaces, /v1/namespace/:name
//
// Every answer carries X-Nomad-Index (and, for reads, X-Nomad-KnownLeader and
// X-Nomad-LastContact); reads are blocking queries with ?index=&wait=; ?region= must be
// "global" or the agent's region, ?namespace= selects (only "default" exists, "*" lists
// all).
//
// # As Nomad 1.6 does it
//
// Bodies decode into api.JobRegisterRequest / api.JobPlanRequest, refusing unknown
// fields. Jobs are canonicalized (api Canonicalize, node pool "default", datacenters
// ["*"] when omitted, the region the request resolves to, and the implied constraints
// for Vault, signals and service discovery) and validated with nomad/structs' checks and
// wording, errors nested as go-multierror lists. As in Nomad, the HTTP layer's own
// checks (body, missing ID, ID mismatch) answer 400, and what the server's RPC refuses
// (validation, "Vault not enabled but used in the job", "Enforcing job modify index
// ...", unknown region or namespace) answers 500 with the error text.
//
// Registration keeps up to six versions with Version, CreateIndex, ModifyIndex and
// JobModifyIndex; an identical job makes no new version, but still an evaluation. The
// scheduler reconciles like Nomad's: ignore, place, stop, in-place update (the same
// process keeps running, services are re-registered) or create/destroy update (the old
// allocation is stopped before its replacement starts, so static ports carry over).
// Placement runs the feasibility checks on the one node: datacenters, constraints,
// drivers ("missing drivers"), static port collisions; a group that cannot be placed
// gets no allocation, its evaluation gets FailedTGAllocs and a blocked evaluation, and
// the job stays pending. Service jobs get a deployment per version, tracking health
// (task_states or Consul checks for min_healthy_time, healthy_deadline,
// progress_deadline); a successful one marks the version stable.
//
// # Knowingly different from Nomad 1.6
//
//   - One node, infinite resources: no bin packing, spreads, affinities, distinct_hosts
//     or preemption; the node runs raw_exec (Nomad needs it enabled in the client
//     config) and the drivers in Config.SimulateDrivers, nothing else.
//   - No restarts and no rescheduling: a task that fails (or a service task that exits)
//     fails its allocation at once, with its Terminated event; restart policies,
//     reschedule policies, auto-revert, canaries and max_parallel are accepted and shown
//     in diffs but not acted upon (all allocations of an update move at once).
//   - Templates render once, before the task starts: change_mode, splay and re-renders
//     are ignored. Nomad waits for missing data forever; the double gives up after
//     Config.TemplateTimeout, and retries Vault and Consul 3 times (Nomad: 12).
//   - The server token is not validated at start (lookup-self, capabilities, role); a bad
//     one shows at the first task token. Task tokens are not renewed; they are revoked
//     when the allocation stops. secrets/vault_token is written 0600 and chowned to the
//     task user (Nomad writes 0666).
//   - Script checks are registered in Consul as passing TTL checks; services with
//     provider "nomad" are not stored; without ConsulAddr nothing is registered, yet the
//     node still advertises a Consul version so such jobs can be placed.
//   - Tasks get only PATH from the double's environment, plus Nomad's task variables.
//     raw_exec tasks run in their task directory, in their own process group, killed by
//     group (kill_signal, then SIGKILL after kill_timeout).
//   - Lifecycle hooks are ordered (prestart, main, poststart, poststop) but poststop
//     tasks do not run when the allocation is stopped.
//   - Job submissions (source), scaling, dispatch, periodic launches, ACLs, variables,
//     Nomad service discovery and the HCL parse endpoint are not served.
package nomadtest
