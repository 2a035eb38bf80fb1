package consul

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeDNS serves SRV answers that are truncated over UDP (so the client must retry over
// TCP) and carry no additional records (so it must ask for the targets' A records).
func fakeDNS(t *testing.T) (addr string, tcpQueries *atomic.Int32) {
	t.Helper()
	tcpQueries = &atomic.Int32{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(q)
		name := q.Question[0].Name
		_, isTCP := w.RemoteAddr().(*net.TCPAddr)
		switch {
		case name == "gone.service.consul.":
			resp.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeSRV && !isTCP:
			resp.Truncated = true
		case q.Question[0].Qtype == dns.TypeSRV:
			tcpQueries.Add(1)
			for i, target := range []string{"b.node.dc1.consul.", "a.node.dc1.consul."} {
				resp.Answer = append(resp.Answer, &dns.SRV{
					Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET},
					Target: target, Port: uint16(7000 + i), Priority: 1, Weight: 1,
				})
			}
		case q.Question[0].Qtype == dns.TypeA:
			ip := map[string]string{"a.node.dc1.consul.": "10.0.0.1", "b.node.dc1.consul.": "10.0.0.2"}[name]
			if ip != "" {
				resp.Answer = append(resp.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP(ip),
				})
			}
		}
		_ = w.WriteMsg(resp)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: l, Handler: handler}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return net.JoinHostPort("127.0.0.1", itoa(port)), tcpQueries
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLookupSRVFallsBackToTCPAndResolvesTargets(t *testing.T) {
	addr, tcpQueries := fakeDNS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := lookupSRV(ctx, addr, "web.service.consul")
	if err != nil {
		t.Fatal(err)
	}
	if tcpQueries.Load() != 1 {
		t.Errorf("TCP queries = %d, want 1 (after the truncated UDP answer)", tcpQueries.Load())
	}
	want := []srvRecord{
		{Target: "a.node.dc1.consul", Host: "10.0.0.1", Port: 7001, Priority: 1, Weight: 1},
		{Target: "b.node.dc1.consul", Host: "10.0.0.2", Port: 7000, Priority: 1, Weight: 1},
	}
	if len(recs) != len(want) || recs[0] != want[0] || recs[1] != want[1] {
		t.Errorf("records %+v, want %+v", recs, want)
	}

	if _, err := lookupSRV(ctx, addr, "gone.service.consul"); !errors.Is(err, errNoInstances) {
		t.Errorf("NXDOMAIN: err = %v, want errNoInstances", err)
	}
}

func TestDNSServerChoice(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.0.0.5", "10.0.0.5:53"},
		{"10.0.0.5:8600", "10.0.0.5:8600"},
		{"::1", "[::1]:53"},
		{"[::1]:8600", "[::1]:8600"},
	} {
		if got := withDefaultPort(c.in); got != c.want {
			t.Errorf("withDefaultPort(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1:8500", "127.0.0.1"},
		{"https://consul.example:8501", "consul.example"},
		{"http://10.1.2.3:8500/prefix", "10.1.2.3"},
	} {
		if got := httpHost(c.in); got != c.want {
			t.Errorf("httpHost(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
