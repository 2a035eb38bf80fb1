package nomadtest

import (
	"context"
	"net/http"
)

// Nomad's state store keeps, besides the Raft index, the index of the last write to
// each table, and a read answers X-Nomad-Index from the tables it read: a table never
// written answers 0, and a blocking query waits for a write to its own tables, not
// to any table. These are the tables the double writes, named as in nomad/state.
const (
	tableJobs        = "jobs"
	tableJobVersion  = "job_version"
	tableJobSummary  = "job_summary"
	tableEvals       = "evals"
	tableAllocs      = "allocs"
	tableDeployments = "deployment"
	tableNodes       = "nodes"
	tableNamespaces  = "namespaces"
)

// write advances the Raft index for a write to tables and wakes blocking queries.
// Callers hold s.mu.
func (s *Server) write(tables ...string) uint64 {
	idx := s.bump()
	if s.tables == nil {
		s.tables = map[string]uint64{}
	}
	for _, t := range tables {
		s.tables[t] = idx
	}
	return idx
}

// tableIndex is the highest index of the given tables (0 when none was written).
// The default namespace was created at index 1.
// Callers hold s.mu.
func (s *Server) tableIndex(tables ...string) uint64 {
	var idx uint64
	for _, t := range tables {
		v := s.tables[t]
		if t == tableNamespaces {
			v = max(v, 1)
		}
		idx = max(idx, v)
	}
	return idx
}

// blockingQueries counts the blocking queries waiting for a write (for tests).
func (s *Server) blockingQueries() int64 { return s.blocking.Load() }

type answerKey struct{}

// answer carries the index a handler answers with, set through setIndex.
type answer struct {
	index     uint64
	set       bool
	nextToken string
}

func withAnswer(r *http.Request) (*http.Request, *answer) {
	a := &answer{}
	return r.WithContext(context.WithValue(r.Context(), answerKey{}, a)), a
}

// setIndex sets the X-Nomad-Index of the answer to r (and the index a blocking query
// compares with ?index=).
func setIndex(r *http.Request, idx uint64) {
	if a, ok := r.Context().Value(answerKey{}).(*answer); ok {
		a.index, a.set = idx, true
	}
}

// setNextToken sets the X-Nomad-NextToken of the answer to r (pagination).
func setNextToken(r *http.Request, tok string) {
	if a, ok := r.Context().Value(answerKey{}).(*answer); ok {
		a.nextToken = tok
	}
}

// indexed is a response body that carries its own index (Nomad's QueryMeta/WriteMeta).
type indexed interface{ answerIndex() uint64 }

func (q queryMeta) answerIndex() uint64 { return q.Index }
