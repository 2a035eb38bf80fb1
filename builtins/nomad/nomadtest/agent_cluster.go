package nomadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Cluster membership: the agent's gossip pool (serf in Nomad) as /v1/agent/members,
// /v1/agent/join and /v1/agent/force-leave show and change it. With Config.SerfPort
// the double listens on that port for other doubles' joins; its gossip is a plain
// HTTP exchange of members, not serf's protocol, so only doubles join each other.

const defaultSerfPort = 4648

// serfPort is the port the member advertises.
func (s *Server) serfPort() int {
	if s.cfg.SerfPort != 0 {
		return s.cfg.SerfPort
	}
	return defaultSerfPort
}

// startGossip listens on 127.0.0.1:SerfPort: GET /member answers this agent's member,
// POST /member adds the joining agent's member and answers this one (serf's push-pull).
func (s *Server) startGossip() error {
	if s.cfg.SerfPort == 0 {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.SerfPort)))
	if err != nil {
		return fmt.Errorf("gossip listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/member", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			var m api.AgentMember
			if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Name == "" {
				http.Error(w, "bad member", http.StatusBadRequest)
				return
			}
			s.mu.Lock()
			s.addPeer(&m)
			s.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.member())
	})
	s.gossip = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.gossip.Serve(ln) }()
	return nil
}

// addPeer records (or refreshes) another agent as an alive member; callers hold s.mu.
func (s *Server) addPeer(m *api.AgentMember) {
	if m.Name == s.memberName() {
		return
	}
	m.Status = "alive"
	for i, p := range s.peers {
		if p.Name == m.Name {
			s.peers[i] = m
			return
		}
	}
	s.peers = append(s.peers, m)
}

// agentJoin serves PUT /v1/agent/join?address=...: it answers 200 with the number
// joined and memberlist's error text, as Nomad does, rather than an HTTP error.
func (s *Server) agentJoin(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		return nil, errInvalidMethod
	}
	addrs := r.URL.Query()["address"]
	if len(addrs) == 0 {
		return nil, coded(http.StatusBadRequest, "missing address to join")
	}
	joined := 0
	var errs []string
	for _, addr := range addrs {
		host, port := addr, strconv.Itoa(defaultSerfPort)
		if h, p, err := net.SplitHostPort(addr); err == nil {
			host, port = h, p
		}
		ips, err := net.DefaultResolver.LookupIPAddr(r.Context(), host)
		if err != nil {
			errs = append(errs, fmt.Sprintf("Failed to resolve %s: %v", addr, err))
			continue
		}
		for _, ip := range ips {
			hp := net.JoinHostPort(ip.String(), port)
			m, err := s.pushPull(r.Context(), hp)
			if err != nil {
				errs = append(errs, fmt.Sprintf("Failed to join %s: %v", hp, err))
				continue
			}
			s.mu.Lock()
			s.addPeer(m)
			s.mu.Unlock()
			joined++
		}
	}
	out := struct {
		NumJoined int    `json:"num_joined"`
		Error     string `json:"error"`
	}{NumJoined: joined}
	if joined == 0 && len(errs) > 0 {
		// hashicorp/go-multierror's format, which memberlist's Join returns.
		var b strings.Builder
		fmt.Fprintf(&b, "%d error%s occurred:\n", len(errs), map[bool]string{true: "s"}[len(errs) > 1])
		for _, e := range errs {
			fmt.Fprintf(&b, "\t* %s\n", e)
		}
		b.WriteString("\n")
		out.Error = b.String()
	}
	return out, nil
}

var gossipClient = &http.Client{Timeout: 5 * time.Second}

// pushPull sends this agent's member to the agent at hostPort and returns its member.
func (s *Server) pushPull(ctx context.Context, hostPort string) (*api.AgentMember, error) {
	body, err := json.Marshal(s.member())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+hostPort+"/member", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := gossipClient.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return nil, op
		}
		return nil, err
	}
	defer resp.Body.Close()
	var m api.AgentMember
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil || m.Name == "" {
		return nil, fmt.Errorf("no member answered (status %d)", resp.StatusCode)
	}
	return &m, nil
}

// agentForceLeave serves PUT /v1/agent/force-leave?node=NAME[&prune=1]: an alive
// member is marked leaving, a failed one left, and with prune it is removed from the
// list at once. An unknown name is no error (serf broadcasts the intent anyway).
func (s *Server) agentForceLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		return nil, errInvalidMethod
	}
	q := r.URL.Query()
	name := q.Get("node")
	if name == "" {
		return nil, coded(http.StatusBadRequest, "missing node to force leave")
	}
	prune := false
	if raw := q.Get("prune"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, coded(http.StatusBadRequest, "invalid prune value")
		}
		prune = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.peers {
		if p.Name != name {
			continue
		}
		switch {
		case prune:
			s.peers = slices.Delete(s.peers, i, i+1)
		case p.Status == "alive":
			p.Status = "leaving"
		case p.Status == "failed":
			p.Status = "left"
		}
		break
	}
	return nil, nil
}

// agentMetrics serves /v1/metrics as Nomad's in-memory sink summary. The double
// records no metrics, so its lists are empty; Prometheus output is not enabled.
func (s *Server) agentMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyGet(r); err != nil {
		return nil, err
	}
	if r.URL.Query().Get("format") == "prometheus" {
		return nil, coded(http.StatusBadRequest, "Prometheus is not enabled")
	}
	return map[string]any{
		"Timestamp": time.Now().UTC().Truncate(10 * time.Second).Format("2006-01-02 15:04:05 -0700 MST"),
		"Gauges":    []any{}, "Points": []any{}, "Counters": []any{}, "Samples": []any{},
	}, nil
}
