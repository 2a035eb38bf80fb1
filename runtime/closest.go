package runtime

import "strings"

// Closest is the name in names nearest to n by edit distance (ignoring case), if near
// enough to be a typo; "" otherwise. The first of equally near names wins. It makes
// every "did you mean" nvrun prints: undeclared vars, and the fakes' state keys.
func Closest(n string, names []string) string {
	best, bestD := "", len(n)/2+2
	for _, c := range names {
		if d := EditDistance(strings.ToLower(n), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, in bytes.
func EditDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
