package runtime

import (
	"fmt"
	"strings"
	"time"
)

// ShortDuration prints 1m rather than time.Duration's 1m0s, and 2h rather than 2h0m0s,
// as users write TTLs.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Plural is "1 task" or "3 tasks".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
