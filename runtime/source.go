package runtime

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// checkSource rejects a file that cannot be a Starlark script: one with a NUL byte or
// bytes that are not UTF-8. Starlark would otherwise accept such bytes in comments and
// strings, so a binary file (or a file of NULs) could "plan" as 0 changes and exit 0.
// The error names the first offending byte as file:line:col.
func checkSource(name string, src []byte) error {
	if utf8.Valid(src) && bytes.IndexByte(src, 0) < 0 {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == 0:
			return fmt.Errorf("%s:%d:%d: the file contains a NUL byte: a script must be UTF-8 text (is it a binary file?)", name, line, col)
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("%s:%d:%d: the file is not valid UTF-8 (byte 0x%02x): a script must be UTF-8 text (is it a binary file?)", name, line, col, src[i])
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return nil
}
