// Package stdlib embeds the Starlark helpers scripts load as @stdlib//name.star.
package stdlib

import "embed"

// FS holds the stdlib files.
//
//go:embed *.star
var FS embed.FS
