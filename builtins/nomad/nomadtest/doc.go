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
//	GET POST PUT DELETE /v1/job/:id                read, register, stop (?purge=true)
//	PUT POST /v1/job/:id/plan                      dry run, with a structured diff
//	GET /v1/job/:id/{allocations,evaluations,deployments,deployment,versions,summary}
//	GET /v1/allocations, /v1/allocation/:id
//	GET /v1/evaluations, /v1/evaluation/:id, /v1/evaluation/:id/allocations
//	GET /v1/deployments, /v1/deployment/:id, /v1/deployment/allocations/:id
//	GET /v1/agent/self, /v1/agent/health, /v1/status/leader, /v1/status/peers
//	GET /v1/regions, /v1/nodes, /v1/namespaces, /v1/namespace/:name
//	GET /.well-known/jwks.json                     the keyring's public key (Cache-Control max-age)
//	GET /.well-known/openid-configuration          only with server.oidc_issuer (else 404, as Nomad)
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
//   - Job submissions (source), scaling, dispatch, periodic launches, ACLs, variables,
//     Nomad service discovery and the HCL parse endpoint are not served.
package nomadtest
