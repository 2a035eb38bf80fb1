// Package testserver starts the real servers the tests run against (Vault, Consul,
// PostgreSQL) on free loopback ports, and stops them by PID.
//
// The Vault and Consul binaries are built once by testdata/servers/build.sh into a cache
// dir (make servers). A missing binary is an error, never a skip: a test that cannot
// reach its real server must fail loudly.
//
// Servers are meant to be started once per test package, from TestMain, and stopped
// when the package's tests end.
package testserver
