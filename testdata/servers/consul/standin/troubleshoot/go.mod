// Stand-in for github.com/hashicorp/consul/troubleshoot, which the module proxy does not
// serve. See proxy/proxy.go.
module github.com/hashicorp/consul/troubleshoot

go 1.20
