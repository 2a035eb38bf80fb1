// Package nomadtest is a strict in-process double of a Nomad agent (server and one
// client node) for tests: Nomad 1.6 with the token flow of the Vault integration, or
// Nomad 1.10 with workload identities, as its agent config selects. It is used through
// github.com/hashicorp/nomad/api like a real cluster, the way net/http/httptest stands
// in for an HTTP server:
//
//	srv, err := nomadtest.New(nomadtest.Config{AgentConfigPath: cfg, ConsulAddr: consul.HTTPAddr})
//	defer srv.Close()
//	client, _ := api.NewClient(&api.Config{Address: srv.URL})
//
// The Nomad server cannot be had for the test substrate (its module is not served, and
// Nomad 1.7+ is not open source), so the double reimplements what the guide's Vault setup
// needs, and checks it for real: raw_exec tasks are real processes; a task's Vault token
// is created through auth/token/create/<create_from_role> with the server token of the
// agent config file, response-wrapped and unwrapped, as Nomad 1.6 does, or comes from a
// login at auth/<jwt_auth_backend_path>/login with the task's workload identity, as
// Nomad 1.10 does; templates are rendered by consul-template against the real Vault and
// Consul; services and checks are registered in the real Consul.
//
// # The agent config
//
// Config.AgentConfigPath is read by New and by Reload, as Nomad reads its config at start
// and on SIGHUP (ReloadOnSIGHUP makes the host process's SIGHUP reload it); editing the
// file does nothing until then, and a reload of a file that does not decode keeps the
// config in effect. Its vault {} block selects the flow:
//
//   - with a token: Nomad 1.6 (version 1.6.5). After each load the server token is
//     validated in the background as Nomad's vault client does (lookup-self; renewable
//     or root; the capabilities on sys/capabilities-self, renew-self, revoke-accessor,
//     auth/token/roles/<role> and auth/token/create/<role>; a role that is renewable,
//     periodic and without explicit max TTL), with Nomad's error text. Task tokens wait
//     for it, and fail with "failed to establish connection to Vault: ..." if it failed.
//   - without a token: Nomad 1.10 (version 1.10.5). A task with a vault block gets the
//     identity vault_<cluster> from vault.default_identity (aud, ttl, env, file,
//     extra_claims) unless it has its own, and its group the constraint
//     ${attr.nomad.version} >= 1.7.0-a. The client signs it with the keyring's RSA key
//     (RS256, kid) and logs in with it and the role (task vault.role, else
//     create_from_role, else none: the auth method's default_role). Claims, as
//     structs.IdentityClaims: nomad_namespace, nomad_job_id, nomad_allocation_id,
//     nomad_task, vault_namespace and vault_role (when set), extra_claims, sub
//     "<region>:<namespace>:<job>:<group>:<task>:<identity>", aud, iat, nbf, exp
//     (iat+ttl), jti, and iss only with server.oidc_issuer. A vault block needs no
//     policies and identity blocks are validated as Nomad validates them.
//
// # Endpoints
//
//	GET PUT POST /v1/jobs                          list, register
//	GET POST PUT DELETE /v1/job/:id                read, register, stop (?purge, ?eval_priority)
//	PUT POST /v1/job/:id/plan                      dry run, with a structured diff
//	PUT POST /v1/job/:id/{revert,evaluate}         revert to a version, force an evaluation
//	PUT POST /v1/validate/job                      admission checks only
//	GET /v1/job/:id/{allocations,evaluations,deployments,deployment,versions,summary}
//	GET /v1/job/:id/submission?version=N          the source a version was registered from
//	GET PUT POST /v1/job/:id/scale                 scale status, scale a group (events kept)
//	GET /v1/allocations, /v1/allocation/:id
//	PUT POST /v1/allocation/:id/stop               migrate: stop and replace
//	GET /v1/evaluations, /v1/evaluation/:id (?related), /v1/evaluation/:id/allocations
//	GET /v1/deployments, /v1/deployment/:id, /v1/deployment/allocations/:id
//	PUT POST /v1/deployment/{fail,pause}/:id       fail, pause or resume
//	PUT POST /v1/job/:id/periodic/force           launch a periodic job's child now
//	GET /v1/agent/{self,health,members}, /v1/status/leader, /v1/status/peers
//	PUT POST /v1/agent/join?address=, /v1/agent/force-leave?node=[&prune=1]
//	GET /v1/agent/monitor?log_level=[&node_id=]   the agent log (DEBUG request lines), streamed
//	GET /v1/agent/schedulers, GET PUT POST /v1/agent/schedulers/config
//	GET /v1/metrics                                the in-memory metrics summary (empty)
//	GET PUT POST /v1/operator/scheduler/configuration (?cas=)
//	DELETE /v1/evaluations                         by ID, while the eval broker is paused
//	GET /v1/regions, /v1/nodes, /v1/namespaces
//	GET /v1/node/:id, /v1/node/:id/allocations
//	PUT POST /v1/node/:id/{evaluate,eligibility,drain,purge}
//	GET /v1/client/stats?node_id=                  host memory, alloc dir disk, uptime
//	GET /v1/client/allocation/:id/exec             websocket: run a command in a task
//	GET /v1/event/stream?topic=Node[:id]&index=    node events (the Node topic only)
//	GET PUT POST DELETE /v1/namespace[/:name]      namespaces ("default" always exists)
//	GET /.well-known/jwks.json                     the keyring's public key (Cache-Control max-age)
//	GET /.well-known/openid-configuration          only with server.oidc_issuer (else 404, as Nomad)
//
// Every answer carries X-Nomad-Index (and, for reads, X-Nomad-KnownLeader and
// X-Nomad-LastContact). As in Nomad's state store, a read answers the index of the
// tables it reads (jobs, job_version, job_summary, evals, allocs, deployment, nodes,
// namespaces), 0 for a table never written, and a blocking query (?index=&wait=) waits
// for a write to those tables, not to any. A write answers the index of the
// evaluation it created. ?region= must be "global" or the agent's region, ?namespace=
// selects ("*" lists all). An unclean path ("//", "..") is redirected with 301, as the
// Go 1.20 mux of Nomad 1.6 did. Lists take ?prefix=; the job, allocation, evaluation,
// deployment and node lists page with ?per_page=, ?next_token= and ?reverse=
// (X-Nomad-NextToken, with Nomad's tokens: namespace.ID for jobs, CreateIndex.ID for
// evaluations, allocations and deployments), the namespace list refuses them; allocation
// lists take ?resources= and ?task_states=, node lists ?resources=, evaluation lists
// ?job= and ?status=.
//
// # As Nomad 1.6 does it
//
// Bodies decode into api.JobRegisterRequest / api.JobPlanRequest, refusing unknown
// fields, but accepting the fields Nomad 1.6's api.Job had and later versions removed
// (ConsulToken, VaultToken: a 1.6-era client always sends them), which are dropped as
// Nomad drops them before storing the job. EvalPriority (register, and ?eval_priority=
// on stop) sets the evaluation's priority, which its blocked evaluation inherits. A plan
// answers, in CreatedEvals, the blocked evaluation its scheduler would create for groups
// it cannot place (not stored).
//
// Jobs are canonicalized (api Canonicalize, node pool "default", datacenters ["*"] when
// omitted, the region the request resolves to, and the implied constraints
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
//   - Restarts follow the task's (else the group's) restart policy as Nomad's client
//     does (defaults: service 2 attempts in 30m, batch 3 in 24h, 15s delay plus up to
//     25% jitter, mode fail; a service task is restarted after exit 0 too), with its
//     Terminated, Restarting and Not Restarting events ("Exceeded allowed attempts ...").
//     Only a process exit restarts: a driver start failure, a failed template or Vault
//     token is not restarted ("Error was unrecoverable"). No rescheduling: reschedule
//     policies, auto-revert, canaries and max_parallel are accepted and shown in diffs
//     but not acted upon (all allocations of an update move at once).
//   - ?filter= (go-bexpr) is refused with 400 "failed to read filter expression: ...":
//     go-bexpr is not available to the double, and an unfiltered answer would be wrong.
//   - allow_unauthenticated = false is not enforced: a job's VaultToken and ConsulToken
//     are accepted and dropped, as with Nomad's default (true).
//   - Config.InMemory (for `nvrun test`'s fake, builtins/nomad/nomadfake) serves the same
//     API through Server.Handler with no socket, process or network: tasks are marked
//     running at once, with no directory, Vault token, identity, template or service,
//     and are healthy at once; the node fingerprints Vault as accessible without asking.
//     Config.AgentConfigSource replaces the agent config file with a function.
//   - Config.NoClient runs a server-only agent (client.enabled = false): no node, every
//     placement fails and leaves a blocked evaluation. The client node registers after
//     the agent is up (Config.NodeRegisterAfter later; the shim waits a second, as a
//     dev agent's client waits for its server's leader election); evaluations blocked
//     meanwhile, or while the node is ineligible, run again when it registers or
//     becomes eligible.
//   - Node drain migrates the node's allocations at once (system jobs' stay) and then
//     completes; deadlines and migrate blocks are not waited on. Purge re-registers
//     the node at once, as its client would on its next heartbeat. Node events,
//     events in the stream, and host stats cover the one node only.
//   - The event stream serves the Node topic only, and refuses any other topic rather
//     than stream nothing for it.
//   - Cluster membership: doubles with Config.SerfPort join each other over a plain
//     HTTP exchange of members (not serf's protocol); members are never probed, so a
//     stopped one stays "alive" until force-leave marks it leaving (or prunes it).
//   - The scheduler worker pool's configuration is kept and reported, but the double's
//     scheduler is not a pool: evaluations run whatever it says. Of the operator's
//     scheduler configuration only PauseEvalBroker acts (evaluations stay pending
//     until resumed); evaluation deletion by filter is refused (no go-bexpr).
//   - The agent monitor carries the double's DEBUG request lines (path only), not
//     Nomad's full log; /v1/metrics answers an empty summary.
//   - Allocation exec runs only in raw_exec tasks that are running, without a terminal
//     (tty=true is refused: no pty library); a simulated driver's task is "not running".
//   - Templates render once, before the task starts: change_mode, splay and re-renders
//     are ignored. Nomad waits for missing data forever; the double gives up after
//     Config.TemplateTimeout, and retries Vault and Consul 3 times (Nomad: 12).
//   - A failed server token validation is retried every connection_retry_intv (30s),
//     as in Nomad, and at once by a Reload of the same config; an unreachable or sealed
//     Vault is retried every second (Nomad: connection_retry_intv too). The config may
//     be missing (Vault disabled) where Nomad needs a file.
//   - Task tokens are not renewed. Token-flow tokens are revoked when the allocation
//     stops; identity-flow tokens are not (nor are they by Nomad). secrets/vault_token is
//     written 0600 and chowned to the task user (Nomad writes 0666, and in 1.10 also
//     private/vault_token).
//   - Workload identities: one RSA key, never rotated, not persisted (a new double has a
//     new key); only task identities are signed (no builtin "default" identity, no
//     service identities, no Consul identities). A task whose vault block has no identity
//     to sign fails at once (Nomad's client retries forever); identity JWTs are not
//     renewed (change_mode is ignored). Token-flow agents store identity blocks and
//     vault.role as given but neither validate nor use them (Nomad 1.6 does not know
//     them). Identity validation follows WorkloadIdentity.Validate's wording; the
//     per-task wrapping ("Identity %q is invalid: ...", "Duplicate identity name") is
//     the double's.
//   - Script checks are registered in Consul as passing TTL checks; services with
//     provider "nomad" are not stored; without ConsulAddr nothing is registered, yet the
//     node still advertises a Consul version so such jobs can be placed.
//   - Tasks get only PATH from the double's environment, plus Nomad's task variables.
//     raw_exec tasks run in their task directory, in their own process group, killed by
//     group (kill_signal, then SIGKILL after kill_timeout).
//   - Lifecycle hooks are ordered (prestart, main, poststart, poststop) but poststop
//     tasks do not run when the allocation is stopped.
//   - Dispatch, periodic launches on the cron schedule (only periodic/force launches),
//     ACLs, variables, Nomad service discovery and the HCL parse endpoint (it needs
//     Nomad's jobspec parser, in the nomad module) are not served; nor are allocation
//     signals, restarts and stats, the client's file system endpoints, node GC, deployment
//     promotion and allocation health, and the operator endpoints other than the
//     scheduler configuration.
//
// # Upstream tests
//
// cmd/nomad-shim is a `nomad` binary for nomad/api's own test harness: it reads the agent
// config its testutil writes and serves this double on the configured port. Its
// TestUpstreamAPITests runs the upstream tests of jobs, plan, allocations, evaluations,
// deployments, agent, status and nodes (the nomad/api version go.mod names, copied from
// the module cache at test time) and asserts which pass; cmd/nomad-shim/upstream_expect_test.go
// lists every one, with the reason for each that does not: TestJobs_Parse needs the HCL
// parse endpoint (not served, above); the others test behaviour newer than Nomad 1.6:
//
//   - TestJobs_Register_PreserveResources: the PreserveResources register option, added
//     after 1.6; Nomad 1.6 registers the new resources.
//   - TestAllocations_Info: expects NetworkStatus for a job without a group network;
//     Nomad 1.6 sets it only for bridge and CNI networks.
//   - TestAllocations_Stop: its rescheduled case stops with ?reschedule=true, which
//     Nomad 1.6 does not read.
//   - TestJobs_ScaleInvalidAction: expects 400 for an empty job ID, where Nomad 1.6's
//     HTTP mux redirects /v1/job//scale and answers 404 (as the 2023 test expects).
//
// Five allocation tests call testutil.RequireRoot: as root (as CI runs) their outcome
// is the one listed; as any other user it is RequireRoot's skip, which the harness
// expects then and reports in its log (never silently).
//
// TestNomad16EraClient runs a program built with the May 2023 nomad/api (a 1.6-era
// client) against the shim.
package nomadtest
