package nomadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The agent's log as /v1/agent/monitor streams it. Nomad's monitor attaches its own
// sink at the requested level, whatever the agent's log_level, so the double keeps its
// lines in Nomad's format ("<time> [LEVEL] <subsystem>: <message>") for whoever
// listens, and writes them nowhere else.

var logLevels = map[string]int{"TRACE": 1, "DEBUG": 2, "INFO": 3, "WARN": 4, "ERROR": 5, "OFF": 6}

type logHub struct {
	mu   sync.Mutex
	subs map[chan []byte]int // line channel -> minimum level
}

func (h *logHub) subscribe(level int) chan []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[chan []byte]int{}
	}
	ch := make(chan []byte, 64)
	h.subs[ch] = level
	return ch
}

func (h *logHub) unsubscribe(ch chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
}

// agentLog sends one line at level to the monitors that want it; a monitor too slow
// to keep up loses lines, as Nomad's drops them ("Monitor dropped N logs").
func (s *Server) agentLog(level, format string, args ...any) {
	h := &s.logs
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return
	}
	line := []byte(fmt.Sprintf("%s [%s] %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), level, fmt.Sprintf(format, args...)))
	for ch, min := range h.subs {
		if logLevels[level] >= min {
			select {
			case ch <- line:
			default:
			}
		}
	}
}

// streamFrame is Nomad's StreamFrame as the monitor sends it (Data is base64 JSON).
type streamFrame struct {
	Offset    int64  `json:",omitempty"`
	Data      []byte `json:",omitempty"`
	File      string `json:",omitempty"`
	FileEvent string `json:",omitempty"`
}

// agentMonitor serves /v1/agent/monitor: the agent's log lines from now on, at
// ?log_level= (INFO by default), as JSON frames or, with ?plain=true, as text.
func (s *Server) agentMonitor(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	level := strings.ToUpper(q.Get("log_level"))
	if level == "" {
		level = "INFO"
	}
	if level == "WARNING" {
		level = "WARN"
	}
	min, ok := logLevels[level]
	if !ok {
		writeError(w, coded(http.StatusBadRequest, "Unknown log level: %s", q.Get("log_level")))
		return
	}
	plain := false
	if v := q.Get("plain"); v != "" {
		var err error
		if plain, err = boolParam(q, "plain"); err != nil {
			writeError(w, coded(http.StatusBadRequest, "Unknown option for plain: %v", err))
			return
		}
	}
	nodeID, serverID := q.Get("node_id"), q.Get("server_id")
	if nodeID != "" && serverID != "" {
		writeError(w, coded(http.StatusBadRequest, "Cannot target node and server simultaneously"))
		return
	}
	if nodeID != "" {
		s.mu.Lock()
		known := s.nodeRec != nil && nodeID == s.node.ID
		s.mu.Unlock()
		if !known {
			writeError(w, coded(http.StatusInternalServerError, "Unknown node"))
			return
		}
	}
	ch := s.logs.subscribe(min)
	defer s.logs.unsubscribe(ch)
	if plain {
		w.Header().Set("Content-Type", "text/plain")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case line := <-ch:
			var err error
			if plain {
				_, err = w.Write(line)
			} else {
				err = enc.Encode(streamFrame{Data: line})
			}
			if err != nil {
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
