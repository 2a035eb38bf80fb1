package nomad

// onChangePassed are the variables of nvrun's environment that an on_change command
// gets, when set: what a restart command needs to find programs, its user and its
// locale (and, for `systemctl --user`, the user's runtime directory). Nothing else
// passes: nvrun's environment holds VAULT_TOKEN, NOMAD_TOKEN, CONSUL_HTTP_TOKEN and
// NVRUN_VAR_* values, which a restart has no use for and could leak into a log.
var onChangePassed = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "XDG_RUNTIME_DIR"}

// defaultPath is the PATH an on_change command gets when nvrun's environment has none
// (systemd's default for services).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// onChangeEnv is the whole environment of an on_change command: onChangePassed, plus
// NVRUN_AGENT_CONFIG, the agent config file that was just written (so one restart
// script can serve several agents).
func (m *module) onChangeEnv(path string) []string {
	env := make([]string, 0, len(onChangePassed)+1)
	for _, k := range onChangePassed {
		v := m.run.Env(k)
		if k == "PATH" && v == "" {
			v = defaultPath
		}
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "NVRUN_AGENT_CONFIG="+path)
}
