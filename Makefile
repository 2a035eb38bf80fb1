# nvrun: `make test` is the whole suite, against real Vault 1.14.1, Consul 1.16.0 and
# PostgreSQL 15 (the Vault and Consul binaries are built once into a cache dir).
GO      ?= go
SERVERS := vault consul

.PHONY: all build test test-scripts servers vet bench demo clean-servers

all: build

build:
	$(GO) build -o bin/nvrun ./cmd/nvrun

# Build the test servers into ${XDG_CACHE_HOME:-~/.cache}/nvrun/servers if missing.
# A cold build takes minutes; an unchanged recipe is reused at once.
servers:
	@for s in $(SERVERS); do bash testdata/servers/build.sh $$s >/dev/null || exit 1; done

vet:
	$(GO) vet ./...

test: servers vet test-scripts
	$(GO) test -count=1 -timeout 30m ./...

# The scripts' own tests (scripts/*_test.star), offline against described state: seconds.
test-scripts:
	$(GO) run ./cmd/nvrun test scripts/

bench: servers
	$(GO) run ./bench

# make demo SCRIPT=scripts/workload-identity.star runs the Nomad 1.7+ variant.
SCRIPT  ?= scripts/guide.star
demo: servers build
	$(GO) run ./testdata/demo $(SCRIPT)

clean-servers:
	rm -rf "$${NVRUN_SERVER_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/nvrun/servers}"
