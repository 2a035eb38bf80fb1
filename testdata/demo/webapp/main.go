// Command webapp is the guide's demo web service, for running the guide locally without
// Docker: it reads the database credentials that the job's template rendered into
// secrets/config.json (dynamic credentials from Vault), connects to PostgreSQL with them,
// and serves /names as the guide's hashicorp/nomad-vault-demo image does.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// dbConfig is the shape of the guide's template output.
type dbConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
	DB       string `json:"db"`
}

func main() {
	configPath := os.Getenv("CONFIG_PATH")
	if configPath == "" {
		configPath = filepath.Join(os.Getenv("NOMAD_SECRETS_DIR"), "config.json")
	}
	addr := os.Getenv("LISTEN_ADDR")
	if addr == "" {
		addr = net.JoinHostPort("127.0.0.1", os.Getenv("NOMAD_PORT_http"))
	}
	http.HandleFunc("/names", func(w http.ResponseWriter, r *http.Request) { serveNames(w, r, configPath) })
	http.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	log.Printf("webapp: listening on %s, credentials from %s", addr, configPath)
	log.Fatal(http.ListenAndServe(addr, nil))
}

// serveNames re-reads the config on each request, so credentials that Vault rotates
// (a re-rendered template) are picked up without a restart.
func serveNames(w http.ResponseWriter, r *http.Request, configPath string) {
	names, err := readNames(r.Context(), configPath)
	if err != nil {
		// The error never includes the password: pgx reports user and host only.
		log.Printf("webapp: %v", err)
		http.Error(w, "database error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, "<!DOCTYPE html>\n\n<h1> Welcome! </h1>\n<h2> If everything worked correctly, you should be able to see a list of names\nbelow </h2>\n\n")
	for _, n := range names {
		fmt.Fprintf(w, "\n<h4> %s </h4>\n", html.EscapeString(n))
	}
}

func readNames(ctx context.Context, configPath string) ([]string, error) {
	raw, err := os.ReadFile(configPath)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c dbConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", configPath, err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.Username, c.Password),
		Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), Path: "/" + c.DB, RawQuery: "sslmode=disable"}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("connect as %s: %w", c.Username, scrub(err, c.Password))
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT name FROM names ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("query as %s: %w", c.Username, scrub(err, c.Password))
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

type scrubbed struct{ msg string }

func (s scrubbed) Error() string { return s.msg }

// scrub removes the password from a driver error, in case a connection string is echoed.
func scrub(err error, password string) error {
	if password == "" {
		return err
	}
	return scrubbed{strings.ReplaceAll(err.Error(), password, "(sensitive)")}
}
