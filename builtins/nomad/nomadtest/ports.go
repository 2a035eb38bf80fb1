package nomadtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// portAllocator hands out the node's host ports. Static ports are checked only against
// the double's own allocations (as Nomad checks only its own); dynamic ports are also
// probed with a bind so that a port some other process holds is skipped.
type portAllocator struct {
	mu   sync.Mutex
	r    PortRange
	used map[int]string // port -> owning alloc ID
	next int

	inMemory bool // no probe: nothing will listen on the port (Config.InMemory)
}

func newPortAllocator(r PortRange) *portAllocator {
	return &portAllocator{r: r, used: map[int]string{}, next: r.Min + rand.IntN(r.Max-r.Min+1)}
}

// owner returns the alloc holding port, or "".
func (p *portAllocator) owner(port int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used[port]
}

func (p *portAllocator) reserve(port int, owner string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.used[port]; ok && o != owner {
		return fmt.Errorf("port %d already in use by allocation %s", port, o)
	}
	p.used[port] = owner
	return nil
}

func (p *portAllocator) dynamic(owner string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	size := p.r.Max - p.r.Min + 1
	for i := 0; i < size; i++ {
		port := p.next
		p.next++
		if p.next > p.r.Max {
			p.next = p.r.Min
		}
		if _, taken := p.used[port]; taken {
			continue
		}
		if !p.inMemory {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			ln.Close()
		}
		p.used[port] = owner
		return port, nil
	}
	return 0, fmt.Errorf("dynamic port selection failed")
}

func (p *portAllocator) release(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for port, o := range p.used {
		if o == owner {
			delete(p.used, port)
		}
	}
}
