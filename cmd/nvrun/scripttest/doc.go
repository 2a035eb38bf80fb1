// Package scripttest runs `nvrun test`'s *_test.star files: every top-level test_*
// function in a fresh interpreter, with the test API (plan, apply, assert, state) that
// runs a script against a described live state. The described servers are the fakes
// beside each builtin module (vaultfake, consulfake, nomadfake, httpfake), served in
// memory through runtime/fakenet; a server a test does not describe is unreachable.
// Nothing here opens a socket or starts a process.
//
// It lives at the cmd level because it wires the builtin modules (cmd -> builtins ->
// runtime): the builtins know nothing of it.
package scripttest
