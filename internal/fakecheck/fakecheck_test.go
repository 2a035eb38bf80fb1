package fakecheck

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPick(t *testing.T) {
	var v any
	if err := json.Unmarshal([]byte(`[
		{"Service": {"ID": "a", "Port": 1, "Tags": ["z", "y"], "Other": 1}, "Checks": [{"CheckID": "c1", "Status": "passing", "X": 0}]},
		{"Service": {"ID": "b"}, "Checks": []}
	]`), &v); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(Pick(v, []string{"[].Service.ID", "[].Service.Port", "[].Service.Tags", "[].Checks[].Status"}))
	want := `[{"Checks":[{"Status":"passing"}],"Service":{"ID":"a","Port":1,"Tags":["y","z"]}},{"Checks":[],"Service":{"ID":"b","Port":"(absent)","Tags":"(absent)"}}]`
	if string(got) != want {
		t.Errorf("Pick = %s\nwant   %s", got, want)
	}
	var m any
	_ = json.Unmarshal([]byte(`{"web": {"ID": "web", "Port": 80}, "db": {"ID": "db"}}`), &m)
	got, _ = json.Marshal(Pick(m, []string{"*.Port"}))
	if string(got) != `{"db":{"Port":"(absent)"},"web":{"Port":80}}` {
		t.Errorf("Pick * = %s", got)
	}
	if s := flatten(Pick(v, []string{"[0].Service.ID"})); s != `"a"` {
		t.Errorf("a Save path picks %s", s)
	}
}

func TestEqualAndDiff(t *testing.T) {
	a := Outcome{Status: 200, Body: map[string]any{"Status": "running"}}
	b := Outcome{Status: 200, Body: map[string]any{"Status": "successful"}}
	if Equal(a, b) || !Equal(a, a) {
		t.Fatal("Equal does not tell the outcomes apart")
	}
	d := Diff(a, b)
	for _, want := range []string{"--- fake\n+++ real\n", `-     "Status": "running"`, `+     "Status": "successful"`, `    "Status": 200,`} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}
