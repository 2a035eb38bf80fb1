package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nvrun/nvrun/bench/internal/httpreplay"
	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime"
)

// guideScript is the guide's Vault steps (1-6, 9-13) as the vault module's tests run them.
const guideScript = "builtins/vault/testdata/guide_vault.star"

// The guide's files, as a user following it would have them (the policies with their
// braces closed, which the guide's page lost). The SQL is what guide_vault.star sends:
// the guide's GRANT alone cannot create a login role, and PostgreSQL 15 refuses to drop
// one that still holds the schema grant.
const (
	cliServerPolicy = `# Allow creating tokens under "nomad-cluster" token role.
path "auth/token/create/nomad-cluster" {
  capabilities = ["update"]
}

# Allow looking up "nomad-cluster" token role.
path "auth/token/roles/nomad-cluster" {
  capabilities = ["read"]
}

# Allow looking up the token passed to Nomad to validate the token has the
# proper capabilities. This is provided by the "default" policy.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Allow looking up incoming tokens to validate they have permissions to access
# the tokens they are requesting.
path "auth/token/lookup" {
  capabilities = ["update"]
}

# Allow revoking tokens that should no longer exist.
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}

# Allow checking the capabilities of our own token.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Allow our own token to be renewed.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
`
	cliRole = `{
  "allowed_policies": "access-tables",
  "token_explicit_max_ttl": 0,
  "name": "nomad-cluster",
  "orphan": true,
  "token_period": 259200,
  "renewable": true
}
`
	cliCreation   = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT ALL ON SCHEMA public TO "{{name}}";`
	cliRevocation = `REVOKE ALL ON SCHEMA public FROM "{{name}}"; DROP ROLE IF EXISTS "{{name}}";`
	cliTaskPolicy = `path "database/creds/accessdb" {
  capabilities = ["read"]
}
`
)

type guideBench struct {
	e        *benchEnv
	pg       *testserver.Postgres
	vaultBin string
	cliDir   string // the guide's files for the CLI contender
	recFile  string
	rec      *httpreplay.Recording
	state    stateCheck
	// rss, when set, runs the process contenders through peakrss (untimed rounds).
	rss      bool
	lastCPU  time.Duration // CPU time of the processes a contender started in its run
	cliProcs int           // vault processes the CLI sequence starts
	rssNvrun []int64
	rssRepl  []int64
	rssCLI   []int64
	// cpu is the CPU time (user + system) of the process contenders' timed runs; the
	// CLI's is the sum over its processes.
	cpu samples
}

// start runs a contender's process: plainly in timed rounds, through peakrss in the
// untimed rounds that measure memory, keeping its peak RSS in *into.
func (g *guideBench) start(into *[]int64, dir string, env, hide []string, name string, args ...string) (proc, error) {
	if !g.rss {
		p, err := runProc(dir, env, hide, name, args...)
		g.lastCPU += p.cpu
		return p, err
	}
	p, err := g.e.runProcRSS(dir, env, hide, name, args...)
	*into = append(*into, p.maxRSS)
	return p, err
}

// guide times the guide's Vault steps three ways, each against a fresh, uninitialised
// Vault and the bench's PostgreSQL, and checks they leave the same state.
func guide(ctx context.Context, e *benchEnv) error {
	g := &guideBench{e: e, cpu: samples{}}
	var err error
	if g.vaultBin, err = testserver.Binary("vault"); err != nil {
		return err
	}
	if g.pg, err = testserver.StartPostgres(filepath.Join(e.dir, "pg")); err != nil {
		return err
	}
	defer g.pg.Stop()
	if err := g.writeCLIFiles(); err != nil {
		return err
	}
	if err := g.record(ctx); err != nil {
		return fmt.Errorf("record nvrun's requests: %w", err)
	}

	pool := &vaultPool{e: e}
	defer pool.drain()
	withVault := func(name string, run func(v *freshVault) (string, error)) contender {
		var v *freshVault
		var token string
		return contender{
			name:  name,
			setup: func() (err error) { v, err = pool.take(); g.lastCPU = 0; return err },
			run:   func() (err error) { token, err = run(v); return err },
			after: func() error {
				defer v.stop()
				if g.lastCPU > 0 && !g.rss {
					g.cpu[name] = append(g.cpu[name], g.lastCPU)
				}
				st, err := newVaultAPI(v.Addr, token).guideState()
				if err != nil {
					return err
				}
				return g.state.check(name, st)
			},
		}
	}
	const (
		nvrunProc   = "nvrun apply (process)"
		cli         = "vault CLI, one process per command"
		replayProc  = "raw HTTP replay (process)"
		nvrunInProc = "nvrun apply (in-process)"
		replayIn    = "raw HTTP replay (in-process)"
	)
	cs := []contender{
		withVault(nvrunProc, g.nvrunProcess),
		withVault(cli, g.cliSequence),
		withVault(replayProc, g.replayProcess),
		withVault(nvrunInProc, func(v *freshVault) (string, error) { return g.nvrunInProcess(ctx, v) }),
		withVault(replayIn, func(v *freshVault) (string, error) { return g.replayInProcess(ctx, v) }),
	}
	rounds := e.roundsOr(31)
	s := samples{}
	for r := range rounds {
		if err := pool.refill(len(cs)); err != nil {
			return err
		}
		if err := runRound(r, cs, s); err != nil {
			return err
		}
		pool.drain()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	// Memory, untimed: the process contenders again, each through peakrss.
	g.rss = true
	const rssRounds = 3
	rssCs := []contender{cs[0], cs[1], cs[2]}
	for r := range rssRounds {
		if err := pool.refill(len(rssCs)); err != nil {
			return err
		}
		if err := runRound(r, rssCs, samples{}); err != nil {
			return fmt.Errorf("memory round: %w", err)
		}
		pool.drain()
	}

	fmt.Printf("Each contender-round gets a fresh, uninitialised Vault 1.14.1 (started before the round, not timed) and the\n"+
		"one PostgreSQL 15; after each run its Vault is read back (policies' rules, token role, mount type, database\n"+
		"config and role, no lease left, one orphan periodic nomad-server token) and compared: all %d timed runs (and the\n"+
		"untimed memory runs) left the same state.\n"+
		"The replay sends the %d requests nvrun made (recorded once in-process through vault.Config.WrapTransport),\n"+
		"substituting only %s.\n\n", rounds*len(cs), len(g.rec.Exchanges), substitutions(g.rec))
	var reqs []string
	for _, x := range g.rec.Exchanges {
		reqs = append(reqs, x.Method+" "+strings.TrimPrefix(x.Path, "/v1/"))
	}
	fmt.Printf("Requests (nvrun's, replayed): %s.\n\n", strings.Join(reqs, ", "))
	report(s, []string{nvrunProc, cli, replayProc, nvrunInProc, replayIn}, nvrunProc)
	fmt.Println()
	speedup := ratio(s, cli, nvrunProc)
	overProc := ratio(s, nvrunProc, replayProc)
	overIn := ratio(s, nvrunInProc, replayIn)
	fmt.Printf("| target | measured | verdict |\n|---|---|---|\n")
	fmt.Printf("| nvrun >= 5x faster than the CLI sequence | %.2fx faster | %s |\n", speedup, verdict(speedup >= 5, fmt.Sprintf("%.1f%% short", (1-speedup/5)*100)))
	fmt.Printf("| (context, no target) the replay vs the CLI: the most any client of these requests gets | %.2fx faster | - |\n", ratio(s, cli, replayProc))
	fmt.Printf("| nvrun <= 1.25x the raw replay, process vs process | %.2fx | %s |\n", overProc, verdict(overProc <= 1.25, fmt.Sprintf("%.1f%% over", (overProc/1.25-1)*100)))
	fmt.Printf("| nvrun <= 1.25x the raw replay, in-process vs in-process | %.2fx | %s |\n", overIn, verdict(overIn <= 1.25, fmt.Sprintf("%.1f%% over", (overIn/1.25-1)*100)))
	peak := maxInt(g.rssNvrun)
	fmt.Printf("| nvrun peak RSS <= 50 MB (guide apply) | %s (max of %d) | %s |\n", mib(peak), len(g.rssNvrun), verdict(peak <= 50e6, mib(peak-50e6)+" over"))
	fmt.Printf("\nCPU time (user + system, median) of the client processes per run: nvrun %s, replay program %s, the\n"+
		"vault CLI's %d processes together %s.\n", round(median(g.cpu[nvrunProc])), round(median(g.cpu[replayProc])), g.cliProcs,
		round(median(g.cpu[cli])))
	fmt.Printf("\nPeak RSS (ru_maxrss through peakrss, %d untimed runs each, max): nvrun %s, replay program %s, largest of the\n"+
		"vault CLI's processes %s.\n", rssRounds, mib(maxInt(g.rssNvrun)), mib(maxInt(g.rssRepl)), mib(maxInt(g.rssCLI)))
	fmt.Printf("(%d rounds, %d contenders each, rotating order)\n", rounds, len(cs))
	return nil
}

func substitutions(rec *httpreplay.Recording) string {
	var parts []string
	for _, name := range runtime.SortedKeys(rec.Substituted) {
		parts = append(parts, fmt.Sprintf("%s (%d place(s))", name[strings.Index(name, ".")+1:], rec.Substituted[name]))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func (g *guideBench) writeCLIFiles() error {
	g.cliDir = filepath.Join(g.e.dir, "guide-files")
	if err := os.MkdirAll(g.cliDir, 0o700); err != nil {
		return err
	}
	conn, err := json.MarshalIndent(map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"allowed_roles":  "accessdb",
		"connection_url": fmt.Sprintf("postgresql://{{username}}:{{password}}@%s:%d/postgres?sslmode=disable", g.pg.Host, g.pg.Port),
		"username":       "postgres",
		"password":       g.pg.Password,
	}, "", "  ")
	if err != nil {
		return err
	}
	for name, body := range map[string]string{
		"nomad-server-policy.hcl":  cliServerPolicy,
		"nomad-cluster-role.json":  cliRole,
		"connection.json":          string(conn),
		"accessdb.sql":             cliCreation,
		"revocation.sql":           cliRevocation,
		"access-tables-policy.hcl": cliTaskPolicy,
	} {
		if err := os.WriteFile(filepath.Join(g.cliDir, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (g *guideBench) scriptVars() []string {
	return []string{"db_host=" + g.pg.Host, "db_port=" + strconv.Itoa(g.pg.Port)}
}

// runDir makes a fresh scratch dir for one run (keys file, HOME for the CLI).
func (g *guideBench) runDir() (string, error) { return os.MkdirTemp(g.e.dir, "run-") }

// record runs the guide's steps once in-process against a fresh Vault with a recording
// transport, and writes the replayable recording.
func (g *guideBench) record(ctx context.Context) error {
	vs, err := g.e.startVaults(1, false)
	if err != nil {
		return err
	}
	defer stopVaults(vs)
	dir, err := g.runDir()
	if err != nil {
		return err
	}
	rec := &httpreplay.Recorder{}
	p := g.inProcess(vs[0], dir)
	p.wrap = rec.Wrap
	if _, err := p.run(ctx); err != nil {
		return err
	}
	if g.rec, err = rec.Recording(nil); err != nil {
		return err
	}
	g.recFile = filepath.Join(g.e.dir, "guide-recording.json")
	b, err := json.Marshal(g.rec)
	if err != nil {
		return err
	}
	return os.WriteFile(g.recFile, b, 0o600)
}

func (g *guideBench) inProcess(v *freshVault, dir string) inProcess {
	return inProcess{
		script: filepath.Join(g.e.root, guideScript), mode: runtime.Apply,
		vars:     append(g.scriptVars(), "db_password="+g.pg.Password),
		environ:  []string{"VAULT_ADDR=" + v.Addr, "HOME=" + dir},
		keysFile: filepath.Join(dir, "vault-keys.json"),
	}
}

// rootTokenFrom reads the root token from a keys file (nvrun's, or the CLI's init JSON).
func rootTokenFrom(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var doc struct {
		RootToken string `json:"root_token"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.RootToken == "" {
		return "", fmt.Errorf("%s holds no root token", path)
	}
	return doc.RootToken, nil
}

func (g *guideBench) nvrunProcess(v *freshVault) (string, error) {
	dir, err := g.runDir()
	if err != nil {
		return "", err
	}
	keys := filepath.Join(dir, "vault-keys.json")
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "VAULT_ADDR=" + v.Addr, "NVRUN_KEYS_FILE=" + keys,
		"NVRUN_VAR_db_password=" + g.pg.Password}
	args := []string{}
	for _, kv := range g.scriptVars() {
		args = append(args, "--var", kv)
	}
	if _, err := g.start(&g.rssNvrun, g.e.root, env, []string{g.pg.Password}, g.e.nvrun, append(args, guideScript)...); err != nil {
		return "", err
	}
	return rootTokenFrom(keys)
}

func (g *guideBench) nvrunInProcess(ctx context.Context, v *freshVault) (string, error) {
	dir, err := g.runDir()
	if err != nil {
		return "", err
	}
	p := g.inProcess(v, dir)
	if _, err := p.run(ctx); err != nil {
		return "", err
	}
	return rootTokenFrom(p.keysFile)
}

func (g *guideBench) replayProcess(v *freshVault) (string, error) {
	dir, err := g.runDir()
	if err != nil {
		return "", err
	}
	varsFile := filepath.Join(dir, "vars.json")
	if _, err := g.start(&g.rssRepl, dir, []string{"PATH=/usr/bin:/bin"}, nil, g.e.replay, "-addr", v.Addr, "-recording", g.recFile, "-vars-out", varsFile); err != nil {
		return "", err
	}
	b, err := os.ReadFile(varsFile)
	if err != nil {
		return "", err
	}
	vars := httpreplay.Result{}
	if err := json.Unmarshal(b, &vars.Vars); err != nil {
		return "", err
	}
	return vars.Var(".root_token"), nil
}

func (g *guideBench) replayInProcess(ctx context.Context, v *freshVault) (string, error) {
	res, err := httpreplay.Replay(ctx, v.Addr, g.rec, nil)
	if err != nil {
		return "", err
	}
	if res.Dials != 1 {
		return "", fmt.Errorf("replay opened %d connections", res.Dials)
	}
	return res.Var(".root_token"), nil
}

// cliSequence is the guide's commands as a user's shell script runs them: one vault
// process per command, the token kept by `vault login` in $HOME/.vault-token.
func (g *guideBench) cliSequence(v *freshVault) (string, error) {
	home, err := g.runDir()
	if err != nil {
		return "", err
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + home, "VAULT_ADDR=" + v.Addr}
	hide := []string{g.pg.Password}
	var rss []int64
	procs := 0
	vault := func(args ...string) ([]byte, error) {
		procs++
		p, err := g.start(&rss, g.cliDir, env, hide, g.vaultBin, args...)
		return p.stdout, err
	}
	out, err := vault("operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json")
	if err != nil {
		return "", err
	}
	var initDoc struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
	}
	if err := json.Unmarshal(out, &initDoc); err != nil || len(initDoc.Keys) != 1 || initDoc.RootToken == "" {
		return "", fmt.Errorf("vault operator init: unexpected output")
	}
	hide = append(hide, initDoc.Keys[0], initDoc.RootToken)
	steps := [][]string{
		{"operator", "unseal", initDoc.Keys[0]},
		{"login", initDoc.RootToken},
		{"policy", "write", "nomad-server", "nomad-server-policy.hcl"},
		{"write", "auth/token/roles/nomad-cluster", "@nomad-cluster-role.json"},
		{"token", "create", "-policy", "nomad-server", "-period", "72h", "-orphan"},
		{"secrets", "enable", "database"},
		{"write", "database/config/postgresql", "@connection.json"},
		{"write", "database/roles/accessdb", "db_name=postgresql", "creation_statements=@accessdb.sql",
			"revocation_statements=@revocation.sql", "default_ttl=1h", "max_ttl=24h"},
	}
	for _, args := range steps {
		if _, err := vault(args...); err != nil {
			return "", err
		}
	}
	out, err = vault("read", "-format=json", "database/creds/accessdb")
	if err != nil {
		return "", err
	}
	var creds struct {
		LeaseID string `json:"lease_id"`
	}
	if err := json.Unmarshal(out, &creds); err != nil || creds.LeaseID == "" {
		return "", fmt.Errorf("vault read database/creds/accessdb: no lease id")
	}
	for _, args := range [][]string{
		{"policy", "write", "access-tables", "access-tables-policy.hcl"},
		{"lease", "revoke", "-sync", creds.LeaseID}, // as nvrun revokes: synchronously
	} {
		if _, err := vault(args...); err != nil {
			return "", err
		}
	}
	if g.rss {
		g.rssCLI = append(g.rssCLI, maxInt(rss))
	}
	g.cliProcs = procs
	return initDoc.RootToken, nil
}
