package consulfake

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nvrun/nvrun/internal/fakecheck"
	"github.com/nvrun/nvrun/internal/testserver"
	"github.com/nvrun/nvrun/runtime/fakenet"
)

// dnsSeed are the registrations both agents get before the DNS questions.
var dnsSeed = []string{
	`{"ID":"dns-a-1","Name":"dns-a","Address":"127.0.0.1","Port":8080,"Tags":["v1"]}`,
	`{"ID":"dns-a-2","Name":"dns-a","Address":"127.0.0.2","Port":8081,"Tags":["v2"]}`,
	`{"ID":"dns-node","Name":"dns-node","Port":9000}`,
	`{"ID":"dns-down","Name":"dns-down","Port":9001,"Check":{"CheckID":"service:dns-down","TTL":"30s","Status":"critical"}}`,
	`{"ID":"dns-warn","Name":"dns-warn","Address":"127.0.0.3","Port":9002,"Check":{"CheckID":"service:dns-warn","TTL":"30s","Status":"warning"}}`,
}

// dnsQuestions are what consul.srv asks: SRV, then A for a target without an
// additional record.
var dnsQuestions = []struct {
	name  string
	qtype uint16
}{
	{"dns-a.service.consul.", dns.TypeSRV},
	{"v1.dns-a.service.consul.", dns.TypeSRV},
	{"v3.dns-a.service.consul.", dns.TypeSRV},
	{"dns-a.service.dc1.consul.", dns.TypeSRV},
	{"dns-node.service.consul.", dns.TypeSRV},
	{"dns-down.service.consul.", dns.TypeSRV},
	{"dns-warn.service.consul.", dns.TypeSRV},
	{"dns-nothing.service.consul.", dns.TypeSRV},
	{"7f000001.addr.dc1.consul.", dns.TypeA},
	{"nvrun-test.node.dc1.consul.", dns.TypeA},
	{"nvrun-test.node.consul.", dns.TypeA},
}

// shown is what consul.srv reads of a DNS answer: the rcode, the SRV and A records
// (sorted, TTLs left out), and the A records of the additional section.
func shown(m *dns.Msg) string {
	var lines []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.SRV:
			lines = append(lines, fmt.Sprintf("answer SRV %s %d %d %d %s", rr.Hdr.Name, rr.Priority, rr.Weight, rr.Port, rr.Target))
		case *dns.A:
			lines = append(lines, fmt.Sprintf("answer A %s %s", rr.Hdr.Name, rr.A))
		}
	}
	for _, rr := range m.Extra {
		if a, ok := rr.(*dns.A); ok {
			lines = append(lines, fmt.Sprintf("extra A %s %s", a.Hdr.Name, a.A))
		}
	}
	sort.Strings(lines)
	return "rcode " + dns.RcodeToString[m.Rcode] + "\n" + strings.Join(lines, "\n")
}

func TestDNSConformance(t *testing.T) {
	real := realConsul(t)
	fake := New(Options{NodeName: testserver.ConsulNodeName})
	fakeClient := &http.Client{Transport: fakenet.Transport(fake)}
	for _, body := range dnsSeed {
		for _, c := range []*http.Client{fakeClient, http.DefaultClient} {
			req, _ := http.NewRequest("PUT", real.HTTPAddr+"/v1/agent/service/register", strings.NewReader(body))
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("register %s: %s", body, res.Status)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	for _, q := range dnsQuestions {
		t.Run(dns.TypeToString[q.qtype]+" "+q.name, func(t *testing.T) {
			fm, err := fake.Resolve(ctx, q.name, q.qtype)
			if err != nil {
				t.Fatalf("fake: %v", err)
			}
			want := shown(fm)
			var got string
			// The registrations reach the real agent's catalog (and its DNS) in the
			// background: ask until it agrees, for at most 10s.
			for deadline := time.Now().Add(10 * time.Second); ; {
				m := new(dns.Msg)
				m.SetQuestion(q.name, q.qtype)
				m.SetEdns0(4096, false)
				rm, _, err := client.ExchangeContext(ctx, m, real.DNSAddr)
				if err != nil {
					t.Fatalf("real: %v", err)
				}
				if got = shown(rm); got == want || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got != want {
				t.Errorf("the fake and the real Consul answer differently\n%s", fakecheck.LineDiff(want, got))
			}
		})
	}
}
