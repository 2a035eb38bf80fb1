package consulfake

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// Resolve answers a DNS question as the agent's DNS interface (domain "consul.") does:
// SRV for "[tag.]name.service[.dc].consul." lists the instances that are not critical,
// each with its target's A record in the additional section ("<hex IP>.addr.<dc>.consul."
// for a service with its own address, "<node>.node.<dc>.consul." otherwise); A for such
// a target is its address. A name it does not know is NXDOMAIN. It is what
// consul.Options.Resolve wants.
func (f *Fake) Resolve(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
	qname := strings.ToLower(dns.Fqdn(name))
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.Response, m.Authoritative, m.RecursionAvailable = true, true, true
	labels := dns.SplitDomainName(strings.TrimSuffix(qname, "consul."))
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case len(labels) >= 2 && labels[len(labels)-1] == "service" || len(labels) >= 3 && labels[len(labels)-2] == "service" && labels[len(labels)-1] == f.dc:
		if labels[len(labels)-1] == f.dc {
			labels = labels[:len(labels)-1]
		}
		labels = labels[:len(labels)-1] // "service"
		name := labels[len(labels)-1]
		var tags []string
		if len(labels) == 2 {
			tags = []string{labels[0]}
		} else if len(labels) > 2 {
			return f.nxdomain(m), nil
		}
		var found []*service
		for _, s := range f.instances(name, tags) {
			if !f.critical(s.ID) {
				found = append(found, s)
			}
		}
		if len(found) == 0 {
			return f.nxdomain(m), nil // no instance, or only critical ones: as Consul
		}
		for _, s := range found {
			target, addr := f.target(s)
			if qtype == dns.TypeSRV {
				m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(qname, dns.TypeSRV), Priority: 1, Weight: 1, Port: uint16(s.Port), Target: target})
				if ip := net.ParseIP(addr).To4(); ip != nil {
					m.Extra = append(m.Extra, &dns.A{Hdr: hdr(target, dns.TypeA), A: ip})
				}
			} else if ip := net.ParseIP(addr).To4(); qtype == dns.TypeA && ip != nil {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(qname, dns.TypeA), A: ip})
			}
		}
		return m, nil
	case len(labels) == 3 && labels[1] == "addr" && labels[2] == f.dc:
		b, err := hex.DecodeString(labels[0])
		if err != nil || len(b) != 4 {
			return f.nxdomain(m), nil
		}
		if qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(qname, dns.TypeA), A: net.IP(b)})
		}
		return m, nil
	case (len(labels) == 2 || len(labels) == 3 && labels[2] == f.dc) && labels[1] == "node" && labels[0] == strings.ToLower(f.node):
		if qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(qname, dns.TypeA), A: net.ParseIP(f.addr).To4()})
		}
		return m, nil
	}
	return f.nxdomain(m), nil
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 0}
}

func (f *Fake) nxdomain(m *dns.Msg) *dns.Msg {
	m.Rcode = dns.RcodeNameError
	m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("consul.", dns.TypeSOA), Ns: "ns.consul.", Mbox: "hostmaster.consul.",
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 0}}
	return m
}

// critical says whether a service has a critical check (DNS leaves it out).
func (f *Fake) critical(id string) bool {
	for _, c := range f.checksOf(id) {
		if c.Status == api.HealthCritical {
			return true
		}
	}
	return false
}

// target is an instance's SRV target and the address it resolves to.
func (f *Fake) target(s *service) (string, string) {
	if ip := net.ParseIP(s.Address).To4(); ip != nil {
		return fmt.Sprintf("%s.addr.%s.consul.", hex.EncodeToString(ip), f.dc), s.Address
	}
	// No address of its own (or a host name): Consul names the node.
	return fmt.Sprintf("%s.node.%s.consul.", strings.ToLower(f.node), f.dc), f.addr
}
