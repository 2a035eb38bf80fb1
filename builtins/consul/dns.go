package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// dnsServer is where SRV questions go, and the domain Consul answers for.
type dnsServer struct {
	addr   string // host:port
	domain string // "consul."
	from   string // how addr was chosen, for messages
}

const defaultDomain = "consul."

// dnsServerFor chooses the DNS server: the srv(dns=) argument, else CONSUL_DNS_ADDR,
// else the DNS interface the agent itself reports in /v1/agent/self. The last is
// looked up once per run.
func (c *consul) dnsServerFor(ctx context.Context, explicit string) (*dnsServer, error) {
	if explicit != "" {
		return &dnsServer{addr: withDefaultPort(explicit), domain: defaultDomain, from: "dns="}, nil
	}
	if env := c.run.Env("CONSUL_DNS_ADDR"); env != "" {
		return &dnsServer{addr: withDefaultPort(env), domain: defaultDomain, from: "CONSUL_DNS_ADDR"}, nil
	}
	if c.dns != nil {
		return c.dns, nil
	}
	client, err := c.api()
	if err != nil {
		return nil, err
	}
	var self struct {
		DebugConfig struct {
			DNSAddrs    []string
			DNSPort     int
			DNSDomain   string
			ClientAddrs []string
		}
	}
	if _, err := client.Raw().Query("/v1/agent/self", &self, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return nil, fmt.Errorf("consul at %s: reading the agent's DNS port: %w", c.addr, err)
	}
	dc := self.DebugConfig
	if dc.DNSPort <= 0 {
		return nil, fmt.Errorf("the agent at %s has its DNS interface disabled (ports.dns = %d); pass dns= or set CONSUL_DNS_ADDR", c.addr, dc.DNSPort)
	}
	host := ""
	for _, a := range dc.DNSAddrs { // "udp://127.0.0.1:8600"
		if u, err := url.Parse(a); err == nil && u.Scheme == "udp" {
			host, _, _ = net.SplitHostPort(u.Host)
			break
		}
	}
	if host == "" && len(dc.ClientAddrs) > 0 {
		host = dc.ClientAddrs[0]
	}
	// An agent listening on all interfaces is reached where we reach its HTTP API.
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = httpHost(c.addr)
	}
	domain := dc.DNSDomain
	if domain == "" {
		domain = defaultDomain
	}
	c.dns = &dnsServer{addr: net.JoinHostPort(host, strconv.Itoa(dc.DNSPort)), domain: dns.Fqdn(domain), from: "the agent's DNS port"}
	return c.dns, nil
}

func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), "53")
}

// httpHost is the host part of a CONSUL_HTTP_ADDR such as "https://10.0.0.5:8501".
func httpHost(addr string) string {
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		addr = rest
	}
	addr, _, _ = strings.Cut(addr, "/")
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// srvRecord is one SRV answer, with the address its target resolves to.
type srvRecord struct {
	Target   string // without the trailing dot
	Host     string // an IP address
	Port     int
	Priority int
	Weight   int
}

// errNoInstances is a name Consul does not know (NXDOMAIN) or has no healthy instance of.
var errNoInstances = errors.New("no healthy instances")

// lookupSRV asks server for qname's SRV records and resolves each target's address,
// from the additional section or, failing that, with an A (then AAAA) query. No
// answer is errNoInstances.
func lookupSRV(ctx context.Context, server, qname string) ([]srvRecord, error) {
	return lookupSRVWith(ctx, exchange, server, qname)
}

// askFunc asks server one DNS question: exchange, or Options.Resolve.
type askFunc func(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error)

// ask is how this run asks DNS questions: Options.Resolve when set (`nvrun test`'s
// fake answers, no socket), else over the network to the server.
func (c *consul) ask() askFunc {
	if r := c.opts.Resolve; r != nil {
		return func(ctx context.Context, _ string, name string, qtype uint16) (*dns.Msg, error) {
			q := dns.Fqdn(name)
			resp, err := r(ctx, q, qtype)
			if err != nil {
				return nil, fmt.Errorf("DNS %s %s: %w", dns.TypeToString[qtype], q, err)
			}
			return resp, nil
		}
	}
	return exchange
}

// lookupSRVWith is lookupSRV asking with ask.
func lookupSRVWith(ctx context.Context, ask askFunc, server, qname string) ([]srvRecord, error) {
	resp, err := ask(ctx, server, qname, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, errNoInstances
	default:
		return nil, fmt.Errorf("SRV %s: %s", qname, dns.RcodeToString[resp.Rcode])
	}
	extra := map[string]string{}
	for _, rr := range resp.Extra {
		switch rr := rr.(type) {
		case *dns.A:
			extra[strings.ToLower(rr.Hdr.Name)] = rr.A.String()
		case *dns.AAAA:
			if _, seen := extra[strings.ToLower(rr.Hdr.Name)]; !seen {
				extra[strings.ToLower(rr.Hdr.Name)] = rr.AAAA.String()
			}
		}
	}
	var out []srvRecord
	for _, rr := range resp.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok {
			continue
		}
		host, ok := extra[strings.ToLower(srv.Target)]
		if !ok {
			if host, err = resolveHost(ctx, ask, server, srv.Target); err != nil {
				return nil, err
			}
		}
		out = append(out, srvRecord{
			Target: strings.TrimSuffix(srv.Target, "."), Host: host,
			Port: int(srv.Port), Priority: int(srv.Priority), Weight: int(srv.Weight),
		})
	}
	if len(out) == 0 {
		return nil, errNoInstances
	}
	// Consul shuffles answers; a stable order keeps plans and scripts deterministic.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if a.Weight != b.Weight {
			return a.Weight > b.Weight
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Port < b.Port
	})
	return out, nil
}

func resolveHost(ctx context.Context, ask askFunc, server, target string) (string, error) {
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := ask(ctx, server, target, qtype)
		if err != nil {
			return "", err
		}
		for _, rr := range resp.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				return rr.A.String(), nil
			case *dns.AAAA:
				return rr.AAAA.String(), nil
			}
		}
	}
	return "", fmt.Errorf("SRV target %s has no A or AAAA record at %s", target, server)
}

// exchange asks one question over UDP, and again over TCP if the answer was truncated.
// It advertises a large EDNS0 buffer because Consul, asked without one, silently cuts
// a UDP answer to 3 records without setting the truncated bit.
func exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(4096, false)
	udp := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	var resp *dns.Msg
	var err error
	for attempt := 0; attempt < 2; attempt++ { // one retry: a lost UDP datagram is not an outage
		if resp, _, err = udp.ExchangeContext(ctx, q, server); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("DNS %s %s via %s: %w", dns.TypeToString[qtype], name, server, err)
	}
	if resp.Truncated {
		tcp := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		if resp, _, err = tcp.ExchangeContext(ctx, q, server); err != nil {
			return nil, fmt.Errorf("DNS %s %s via %s (TCP, after a truncated UDP answer): %w", dns.TypeToString[qtype], name, server, err)
		}
	}
	return resp, nil
}
