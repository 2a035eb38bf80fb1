package main

import (
	"encoding/xml"
	"fmt"
	"time"

	"github.com/nvrun/nvrun/cmd/nvrun/scripttest"
	"github.com/nvrun/nvrun/runtime"
)

// JUnit XML as CI systems read it (Jenkins, GitLab, GitHub's test reporters): one
// testsuite per test file, one testcase per test function; a file that could not be
// loaded is a suite with one errored testcase, so the report shows why.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func junitReport(files []*scripttest.File) junitSuites {
	var all junitSuites
	var total time.Duration
	for _, f := range files {
		s := junitSuite{Name: f.Path, Time: junitSeconds(f.Duration)}
		if f.Setup != nil {
			s.Tests, s.Errors = 1, 1
			s.Cases = append(s.Cases, junitCase{Name: "(load)", Classname: f.Path, File: f.Path, Time: "0.000",
				Error: &junitProblem{Message: firstLine(f.Setup.Error()), Type: "setup", Text: f.Setup.Error()}})
		}
		for _, t := range f.Tests {
			c := junitCase{Name: t.Name, Classname: f.Path, File: f.Path, Time: junitSeconds(t.Duration), SystemOut: t.Output}
			if t.Failure != nil {
				c.Failure = &junitProblem{Message: firstLine(t.Failure.Msg), Type: "failure", Text: t.Failure.Pos + ": " + t.Failure.Msg}
				s.Failures++
			}
			s.Tests++
			s.Cases = append(s.Cases, c)
		}
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		total += f.Duration
		all.Suites = append(all.Suites, s)
	}
	all.Time = junitSeconds(total)
	return all
}

// writeJUnit writes the report to path atomically (a temporary file beside it, synced,
// then renamed), so a CI job never reads half a report.
func writeJUnit(path string, files []*scripttest.File) error {
	data, err := xml.MarshalIndent(junitReport(files), "", "  ")
	if err != nil {
		return err
	}
	data = append([]byte(xml.Header), append(data, '\n')...)
	return runtime.WriteFileAtomic(path, data, 0o644, nil)
}

func junitSeconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
