package vaultfake

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/nvrun/nvrun/runtime/fakenet"
)

// TestConcurrentUse writes and reads policies from many goroutines at once: every
// write must be readable afterwards (run with -race to check the locking).
func TestConcurrentUse(t *testing.T) {
	f := New()
	client := &http.Client{Transport: fakenet.Transport(f)}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := fmt.Sprintf(`{"policy":"path \"p%d/*\" { capabilities = [\"read\"] }"}`, i)
			req, _ := http.NewRequest("PUT", fmt.Sprintf("http://vault.test/v1/sys/policies/acl/p%d", i), strings.NewReader(body))
			req.Header.Set("X-Vault-Token", "t")
			res, err := client.Do(req)
			if err != nil || res.StatusCode != 204 {
				errs <- fmt.Errorf("write p%d: %v %v", i, err, res)
				return
			}
			req, _ = http.NewRequest("GET", "http://vault.test/v1/sys/policies/acl?list=true", nil)
			req.Header.Set("X-Vault-Token", "t")
			if res, err = client.Do(req); err != nil || res.StatusCode != 200 {
				errs <- fmt.Errorf("list: %v", err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 0; i < 32; i++ {
		if f.Policy(fmt.Sprintf("p%d", i)) == "" {
			t.Errorf("policy p%d lost", i)
		}
	}
}

// TestConcurrentTuneAndList tunes a mount while others list the mounts: the answers
// are encoded under the fake's lock (run with -race).
func TestConcurrentTuneAndList(t *testing.T) {
	f := New()
	client := &http.Client{Transport: fakenet.Transport(f)}
	send := func(method, path, body string) int {
		req, _ := http.NewRequest(method, "http://vault.test/v1/"+path, strings.NewReader(body))
		req.Header.Set("X-Vault-Token", "t")
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := send("POST", "sys/mounts/kv", `{"type":"kv"}`); c != 204 {
		t.Fatalf("mount: %d", c)
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			if c := send("POST", "sys/mounts/kv/tune", fmt.Sprintf(`{"description":"d%d","max_lease_ttl":"%dh"}`, i, i+1)); c != 204 {
				t.Errorf("tune: %d", c)
			}
		}(i)
		go func() {
			defer wg.Done()
			if c := send("GET", "sys/mounts", ""); c != 200 {
				t.Errorf("list: %d", c)
			}
		}()
	}
	wg.Wait()
}
