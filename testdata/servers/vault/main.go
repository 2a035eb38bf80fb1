// Command vault is the real HashiCorp Vault v1.14.1 server, built for tests.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
