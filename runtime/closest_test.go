package runtime

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"token_role", "token_period", "server_policy", "db_role"}
	for _, tc := range []struct{ in, want string }{
		{"token_rol", "token_role"},
		{"TOKEN_ROLE", "token_role"}, // case is ignored
		{"token_perod", "token_period"},
		{"serverpolicy", "server_policy"},
		{"db_rol", "db_role"},
		{"zzz", ""}, // nothing near enough
		{"something_else_entirely", ""},
	} {
		if got := Closest(tc.in, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"env", "evn", 2}} {
		if got := EditDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
