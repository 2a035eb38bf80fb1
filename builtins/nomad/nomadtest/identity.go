package nomadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/nomad/api"
)

// Workload identities, as Nomad 1.10 has them (nomad/structs/workload_id.go, the
// implicit-identities admission hook and the client's vault hook): a task with a vault
// block gets the identity "vault_<cluster>" from the agent's vault.default_identity
// unless it has its own; the client asks the server to sign it and logs in to Vault
// with it at auth/<jwt_auth_backend_path>/login.

const (
	// identityVaultPrefix names the identities used to log in to Vault.
	identityVaultPrefix = "vault_"
	// identityDefaultName and identityDefaultAud are Nomad's builtin identity.
	identityDefaultName = "default"
	identityDefaultAud  = "nomadproject.io"
)

// validIdentityName is Nomad's validIdentityName: safe to use in file names.
var validIdentityName = regexp.MustCompile("^[a-zA-Z0-9-_]{1,128}$")

// vaultIdentityName is Vault.IdentityName(): "vault_" and the Vault cluster's name.
func vaultIdentityName(v *api.Vault) string {
	cluster := "default"
	if v != nil && v.Cluster != "" {
		cluster = v.Cluster
	}
	return identityVaultPrefix + cluster
}

func taskIdentity(t *api.Task, name string) *api.WorkloadIdentity {
	for _, wid := range t.Identities {
		if wid != nil && wid.Name == name {
			return wid
		}
	}
	return nil
}

// addImplicitIdentities is the jobImplicitIdentitiesHook's Vault part: a task with a
// vault block and no identity for its Vault cluster gets the agent's default_identity
// under that name, and a group with identities gets the constraint that its client
// supports them.
func addImplicitIdentities(j *api.Job, vc *vaultConfig) {
	def := vc.defaultIdentity()
	for _, tg := range j.TaskGroups {
		hasIdentity := false
		for _, t := range tg.Tasks {
			if t.Vault != nil && def != nil && taskIdentity(t, vaultIdentityName(t.Vault)) == nil {
				ttl, _ := time.ParseDuration(def.TTL) // checked when the config was loaded
				t.Identities = append(t.Identities, &api.WorkloadIdentity{
					Name:         vaultIdentityName(t.Vault),
					Audience:     def.audience(),
					ChangeMode:   def.ChangeMode,
					ChangeSignal: strings.ToUpper(def.ChangeSignal),
					Env:          boolv(def.Env),
					File:         boolv(def.File),
					TTL:          ttl,
				})
			}
			hasIdentity = hasIdentity || len(t.Identities) > 0
		}
		if hasIdentity {
			addConstraintLeft(tg, identityClientConstraint)
		}
	}
}

// identityClientConstraint is implicitIdentityClientVersionConstraint.
var identityClientConstraint = api.Constraint{LTarget: "${attr.nomad.version}", RTarget: ">= 1.7.0-a", Operand: opSemver}

// canonicalizeIdentities is WorkloadIdentity.Canonicalize for a task's identities.
func canonicalizeIdentities(j *api.Job) {
	for _, tg := range j.TaskGroups {
		for _, t := range tg.Tasks {
			for _, wid := range t.Identities {
				if wid == nil {
					continue
				}
				if wid.Name == "" {
					wid.Name = identityDefaultName
				}
				if wid.Name == identityDefaultName {
					wid.Audience = []string{identityDefaultAud}
				}
				wid.ChangeSignal = strings.ToUpper(wid.ChangeSignal)
			}
		}
	}
}

// validateIdentities checks a task's identity blocks as WorkloadIdentity.Validate
// does, and that names are unique.
func validateIdentities(t *api.Task) error {
	var mErr multierror.Error
	seen := map[string]bool{}
	for _, wid := range t.Identities {
		if wid == nil {
			continue
		}
		if seen[wid.Name] {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Duplicate identity name %q", wid.Name))
		}
		seen[wid.Name] = true
		if err := validateIdentity(wid); err != nil {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("Identity %q is invalid: %w", wid.Name, err))
		}
	}
	return mErr.ErrorOrNil()
}

func validateIdentity(wi *api.WorkloadIdentity) error {
	var mErr multierror.Error
	if !validIdentityName.MatchString(wi.Name) {
		mErr.Errors = append(mErr.Errors, fmt.Errorf("invalid name %q. Must match regex %s", wi.Name, validIdentityName))
	}
	for i, aud := range wi.Audience {
		if aud == "" {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("an empty string is an invalid audience (%d)", i+1))
		}
	}
	switch wi.ChangeMode {
	case "", "noop", "restart":
		if wi.ChangeSignal != "" {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("can only use change_signal=%q with change_mode=%q", wi.ChangeSignal, "signal"))
		}
	case "signal":
		if wi.ChangeSignal == "" {
			mErr.Errors = append(mErr.Errors, fmt.Errorf("change_signal must be specified when using change_mode=%q", "signal"))
		}
	default:
		mErr.Errors = append(mErr.Errors, fmt.Errorf("invalid change_mode: %s", wi.ChangeMode))
	}
	if wi.TTL > 0 && (wi.Name == "" || wi.Name == identityDefaultName) {
		mErr.Errors = append(mErr.Errors, errors.New("ttl for default identity not yet supported"))
	}
	if wi.TTL < 0 {
		mErr.Errors = append(mErr.Errors, errors.New("ttl must be >= 0"))
	}
	return mErr.ErrorOrNil()
}

// identityClaims is Nomad's structs.IdentityClaims as JSON.
type identityClaims struct {
	Namespace    string `json:"nomad_namespace"`
	JobID        string `json:"nomad_job_id"`
	AllocationID string `json:"nomad_allocation_id"`
	TaskName     string `json:"nomad_task,omitempty"`

	VaultNamespace string `json:"vault_namespace,omitempty"`
	VaultRole      string `json:"vault_role,omitempty"`

	ExtraClaims map[string]string `json:"extra_claims,omitempty"`

	jwt.Claims
}

// taskIdentityClaims builds the claims of a task's identity, as IdentityClaimsBuilder
// does for a task workload: sub is region:namespace:job:group:task:identity, nbf and
// iat are now, exp is now+ttl (none without a ttl), jti is random, iss is
// server.oidc_issuer when set, and Vault identities carry the task's vault namespace
// and role and the agent's extra claims.
func (s *Server) taskIdentityClaims(a *api.Allocation, t *api.Task, wid *api.WorkloadIdentity, now time.Time) *identityClaims {
	job := allocJob(a)
	jobID := str(job.ID)
	if parent := str(job.ParentID); parent != "" {
		// GetIDforWorkloadIdentity: dispatched and periodic children act as their parent.
		jobID = parent
	}
	jwtNow := jwt.NewNumericDate(now.UTC())
	c := &identityClaims{
		Namespace:    a.Namespace,
		JobID:        jobID,
		AllocationID: a.ID,
		TaskName:     t.Name,
		Claims: jwt.Claims{
			NotBefore: jwtNow,
			IssuedAt:  jwtNow,
			Audience:  jwt.Audience(slices.Clone(wid.Audience)),
			Subject:   strings.Join([]string{str(job.Region), str(job.Namespace), str(job.ID), a.TaskGroup, t.Name, wid.Name}, ":"),
			ID:        uuid(),
		},
	}
	state := s.agentConfig()
	if state.oidcIssuer != "" {
		c.Issuer = state.oidcIssuer
	}
	if wid.TTL > 0 {
		c.Expiry = jwt.NewNumericDate(now.Add(wid.TTL))
	}
	if strings.HasPrefix(wid.Name, identityVaultPrefix) && t.Vault != nil {
		c.VaultNamespace = str(t.Vault.Namespace)
		c.VaultRole = t.Vault.Role
		if def := state.vault.defaultIdentity(); def != nil && len(def.ExtraClaims) > 0 {
			c.ExtraClaims = s.interpolateClaims(def.ExtraClaims, a, t)
		}
	}
	return c
}

// allocJob is the job an allocation runs (the scheduler always sets it; the fallback
// only guards against a nil).
func allocJob(a *api.Allocation) *api.Job {
	if a.Job != nil {
		return a.Job
	}
	return &api.Job{ID: &a.JobID, Namespace: &a.Namespace, Region: new(api.GlobalRegion)}
}

// interpolateClaims resolves the variables Nomad allows in extra_claims.
func (s *Server) interpolateClaims(in map[string]string, a *api.Allocation, t *api.Task) map[string]string {
	job := allocJob(a)
	jobID := str(job.ID)
	if parent := str(job.ParentID); parent != "" {
		jobID = parent
	}
	v := t.Vault
	r := strings.NewReplacer(
		"${job.region}", str(job.Region),
		"${job.namespace}", str(job.Namespace),
		"${job.id}", jobID,
		"${job.node_pool}", str(job.NodePool),
		"${group.name}", a.TaskGroup,
		"${node.id}", s.node.ID,
		"${node.datacenter}", s.node.Datacenter,
		"${node.pool}", "default",
		"${node.class}", "",
		"${task.name}", t.Name,
		"${vault.cluster}", v.Cluster,
		"${vault.namespace}", str(v.Namespace),
		"${vault.role}", v.Role,
	)
	out := make(map[string]string, len(in))
	for k, val := range in {
		out[k] = r.Replace(val)
	}
	return out
}

// signTaskIdentity returns the signed JWT of a task's identity.
func (s *Server) signTaskIdentity(a *api.Allocation, t *api.Task, wid *api.WorkloadIdentity) (string, error) {
	return s.keyring.sign(s.taskIdentityClaims(a, t, wid, time.Now()))
}

// loginWithIdentity is the Nomad 1.10 client's vault hook: sign the task's Vault
// identity, log in at auth/<jwt_auth_backend_path>/login with it and the role (the
// task's vault.role, else create_from_role, else none: the auth method's default_role),
// and use the token Vault returns. Vault checks the signature against the JWKS the
// double serves; nothing here vouches for the JWT.
func (s *Server) loginWithIdentity(a *api.Allocation, t *api.Task, vc *vaultConfig) (vaultLease, *api.TaskEvent) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	widName := vaultIdentityName(t.Vault)
	fail := func(err error) (vaultLease, *api.TaskEvent) {
		ev := newEvent(api.TaskKilling, fmt.Sprintf("Vault: failed to derive vault token: %v", err))
		ev.VaultError = err.Error()
		ev.Details["vault_renewal_error"] = err.Error()
		return vaultLease{}, ev
	}
	wid := taskIdentity(t, widName)
	if wid == nil {
		// Nomad's identity manager has nothing to sign: the client retries forever.
		return fail(fmt.Errorf("failed to retrieve signed workload identity: identity %q not found", widName))
	}
	signed, err := s.signTaskIdentity(a, t, wid)
	if err != nil {
		return fail(fmt.Errorf("failed to retrieve signed workload identity: %w", err))
	}
	role := vc.Role
	if t.Vault.Role != "" {
		role = t.Vault.Role
	}
	client, err := newVaultClient(vc.address(), "", vc.Namespace)
	if err != nil {
		return fail(err)
	}
	if ns := str(t.Vault.Namespace); ns != "" {
		client.SetNamespace(ns)
	}
	secret, err := client.Logical().WriteWithContext(ctx, "auth/"+vc.jwtAuthPath()+"/login", map[string]any{
		"role": role,
		"jwt":  signed,
	})
	switch {
	case err != nil:
		err = fmt.Errorf("failed to login with JWT: %v", err)
	case secret == nil:
		err = errors.New("JWT login returned an empty secret")
	case secret.Auth == nil:
		err = errors.New("JWT login did not return a token")
	}
	if err != nil {
		return fail(fmt.Errorf("failed to derive Vault token for identity %s: %v", widName, err))
	}
	return vaultLease{token: secret.Auth.ClientToken}, nil
}

// identityFiles lists the identity JWTs Nomad hands a task: for each identity with
// file = true, secrets/nomad_<name>.jwt (or its filepath, relative to the task
// directory), and with env = true, NOMAD_TOKEN_<name>.
func (s *Server) identityFiles(a *api.Allocation, t *api.Task) (files, env map[string]string, err error) {
	for _, wid := range t.Identities {
		if wid == nil || (!wid.File && !wid.Env) {
			continue
		}
		signed, err := s.signTaskIdentity(a, t, wid)
		if err != nil {
			return nil, nil, err
		}
		if wid.File {
			if files == nil {
				files = map[string]string{}
			}
			// filepath is relative to the task directory; the default is in secrets/.
			path := filepath.Join("secrets", "nomad_"+wid.Name+".jwt")
			if wid.Filepath != "" {
				if pathEscapesTaskDir(wid.Filepath) {
					return nil, nil, fmt.Errorf("identity %q: filepath %q escapes the task directory", wid.Name, wid.Filepath)
				}
				path = filepath.Clean(wid.Filepath)
			}
			files[path] = signed
		}
		if wid.Env {
			if env == nil {
				env = map[string]string{}
			}
			env["NOMAD_TOKEN_"+wid.Name] = signed
		}
	}
	return files, env, nil
}

// exposeIdentities is the client's identity hook in the workload identity flow: the
// signed JWT of each identity with file = true is written to
// secrets/nomad_<name>.jwt (0600, owned by the task user), and those with env = true
// are set as NOMAD_TOKEN_<name>.
func (tr *taskRunner) exposeIdentities(env map[string]string, uid, gid int) *api.TaskEvent {
	if vc, _ := tr.s.readVaultConfig(); !vc.enabled() || vc.tokenFlow() {
		return nil
	}
	files, idEnv, err := tr.s.identityFiles(tr.alloc, tr.task)
	if err != nil {
		return newEvent(api.TaskSetupFailure, "failed to sign workload identities: "+err.Error())
	}
	for rel, jwt := range files {
		path := filepath.Join(tr.dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return newEvent(api.TaskSetupFailure, "failed to write workload identity: "+err.Error())
		}
		if err := os.WriteFile(path, []byte(jwt), 0o600); err != nil {
			return newEvent(api.TaskSetupFailure, "failed to write workload identity: "+err.Error())
		}
		if uid >= 0 {
			_ = os.Chown(path, uid, gid)
		}
	}
	for k, v := range idEnv {
		env[k] = v
	}
	return nil
}
