package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestConsul(t *testing.T) {
	start := time.Now()
	c, err := StartConsul(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("consul leader elected %s after start; http %s, dns %s", time.Since(start).Round(time.Millisecond), c.HTTPAddr, c.DNSAddr)
	pid := c.Proc.Cmd.Process.Pid
	stopped := false
	defer func() {
		if !stopped {
			c.Stop()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leader == "" {
		t.Fatal("no leader after StartConsul returned")
	}

	const service = "nvrun-web"
	const port = 8080
	body := fmt.Sprintf(`{"Name": %q, "Address": "127.0.0.1", "Port": %d}`, service, port)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.HTTPAddr+"/v1/agent/service/register", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register %s: %s: %s", service, resp.Status, msg)
	}

	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, c.DNSAddr)
		},
	}
	var srvs []*net.SRV
	for {
		lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
		_, srvs, err = resolver.LookupSRV(lctx, "", "", service+".service.consul")
		lcancel()
		if err == nil && len(srvs) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("SRV %s.service.consul via %s: %v", service, c.DNSAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(srvs) != 1 || srvs[0].Port != port {
		t.Fatalf("SRV %s.service.consul = %+v, want one record with port %d", service, srvs, port)
	}
	t.Logf("SRV %s.service.consul -> %s:%d", service, srvs[0].Target, srvs[0].Port)

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if !c.Proc.Exited() {
		t.Fatal("consul has not exited after Stop")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("consul pid %d still exists after Stop (kill 0: %v)", pid, err)
	}
}
