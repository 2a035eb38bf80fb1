package nomadtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// The event stream (/v1/event/stream), for the Node topic only: node registration,
// deregistration, eligibility and drain events with the node as payload, from a
// buffer of Nomad's default size (event_buffer_size 100). A request for any other
// topic is refused rather than answered with a stream that would never carry its
// events (doc.go).

const eventBufferSize = 100

// publishNode records a Node event with the node as it is now; callers hold s.mu.
func (s *Server) publishNode(idx uint64, typ string) {
	var payload map[string]any
	if s.nodeRec != nil {
		b, _ := json.Marshal(s.nodeInfoLocked())
		var node map[string]any
		_ = json.Unmarshal(b, &node)
		payload = map[string]any{"Node": node}
	} else {
		payload = map[string]any{"Node": map[string]any{"ID": s.node.ID}}
	}
	s.events = append(s.events, api.Event{
		Topic: api.TopicNode, Type: typ, Key: s.node.ID, Index: idx, Payload: payload,
	})
	if len(s.events) > eventBufferSize {
		s.events = s.events[len(s.events)-eventBufferSize:]
	}
}

func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errInvalidMethod)
		return
	}
	q := r.URL.Query()
	var from uint64
	if raw := q.Get("index"); raw != "" {
		v, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			writeError(w, coded(http.StatusBadRequest, "Unable to parse index: %v", err))
			return
		}
		from = v
	}
	keys := map[string]bool{}
	topics := q["topic"]
	if len(topics) == 0 {
		writeError(w, coded(http.StatusBadRequest, "the nomadtest double streams only the Node topic: name it (topic=Node[:key])"))
		return
	}
	for _, t := range topics {
		topic, key, found := strings.Cut(t, ":")
		if topic != string(api.TopicNode) {
			writeError(w, coded(http.StatusBadRequest, "the nomadtest double streams only the Node topic, not %q", topic))
			return
		}
		if !found || key == "" {
			key = "*"
		}
		keys[key] = true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	heartbeat := time.NewTicker(10 * time.Second) // Nomad's heartbeat interval
	defer heartbeat.Stop()
	next := from
	for {
		s.mu.Lock()
		ch := s.changed
		var batches []api.Events
		for _, ev := range s.events {
			if ev.Index < next || !(keys["*"] || keys[ev.Key]) {
				continue
			}
			if n := len(batches); n > 0 && batches[n-1].Index == ev.Index {
				batches[n-1].Events = append(batches[n-1].Events, ev)
			} else {
				batches = append(batches, api.Events{Index: ev.Index, Events: []api.Event{ev}})
			}
		}
		if len(s.events) > 0 {
			next = max(next, s.events[len(s.events)-1].Index+1)
		}
		s.mu.Unlock()
		for _, b := range batches {
			if err := enc.Encode(struct {
				Index  uint64
				Events []api.Event
			}{b.Index, b.Events}); err != nil {
				return
			}
		}
		if len(batches) > 0 && flusher != nil {
			flusher.Flush()
		}
		select {
		case <-ch:
		case <-heartbeat.C:
			if _, err := w.Write([]byte("{}\n")); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}
