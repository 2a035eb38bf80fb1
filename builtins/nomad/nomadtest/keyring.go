package nomadtest

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Nomad 1.7+ servers keep a keyring whose root key signs workload identities (RS256
// since 1.7); third parties such as Vault verify them with the public keys served at
// /.well-known/jwks.json. The double's keyring has one RSA key, made at New: there is
// no rotation and no replication.

const (
	// jwksPath and oidcDiscoveryPath are Nomad's structs.JWKSPath and the OIDC
	// discovery path.
	jwksPath          = "/.well-known/jwks.json"
	oidcDiscoveryPath = "/.well-known/openid-configuration"
	// rotationThreshold is Nomad's default root_key_rotation_threshold (30 days); the
	// JWKS answer tells caches when the key set may change.
	rotationThreshold = 720 * time.Hour
	// jwksMinMaxAge is the shortest Cache-Control max-age Nomad sends for the JWKS.
	jwksMinMaxAge = 15 * time.Minute
)

type keyring struct {
	keyID   string
	key     *rsa.PrivateKey
	created time.Time
	signer  jose.Signer
}

func newKeyring() (*keyring, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	k := &keyring{keyID: uuid(), key: key, created: time.Now()}
	// Nomad's header: alg RS256, kid (the root key's ID) and typ JWT.
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), k.keyID)
	k.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return nil, err
	}
	return k, nil
}

var (
	sharedOnce sync.Once
	shared     *keyring
	sharedErr  error
)

// sharedKeyring is one keyring for every InMemory double of the process: generating an
// RSA key is most of what a new double costs, and an InMemory double signs nothing.
func sharedKeyring() (*keyring, error) {
	sharedOnce.Do(func() { shared, sharedErr = newKeyring() })
	return shared, sharedErr
}

// sign serializes claims as a compact JWS.
func (k *keyring) sign(claims any) (string, error) {
	return jwt.Signed(k.signer).Claims(claims).Serialize()
}

// jwks is the public key set, as Nomad's Keyring.ListPublic turns it into a JWKS.
func (k *keyring) jwks() *jose.JSONWebKeySet {
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       &k.key.PublicKey,
		KeyID:     k.keyID,
		Algorithm: string(jose.RS256),
		Use:       "sig",
	}}}
}

// jwksRequest answers GET /.well-known/jwks.json, with the Cache-Control Nomad sends:
// half the time until the newest key may be rotated, at least 15 minutes.
func (s *Server) jwksRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method != http.MethodGet {
		return nil, errInvalidMethod
	}
	maxAge := time.Until(s.keyring.created.Add(rotationThreshold)) / 2
	if maxAge < jwksMinMaxAge {
		maxAge = jwksMinMaxAge
	}
	w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", int(maxAge.Seconds())))
	return s.keyring.jwks(), nil
}

// oidcDiscovery is Nomad's structs.OIDCDiscoveryConfig.
type oidcDiscovery struct {
	Issuer        string   `json:"issuer"`
	JWKS          string   `json:"jwks_uri"`
	IDTokenAlgs   []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypes []string `json:"response_types_supported"`
	Subjects      []string `json:"subject_types_supported"`
}

// oidcDiscoveryRequest answers GET /.well-known/openid-configuration. As in Nomad it
// is served only when server.oidc_issuer is set; otherwise it is a 404.
func (s *Server) oidcDiscoveryRequest(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method != http.MethodGet {
		return nil, errInvalidMethod
	}
	issuer := s.agentConfig().oidcIssuer
	if issuer == "" {
		return nil, coded(http.StatusNotFound, "OIDC Discovery endpoint disabled")
	}
	jwksURL, err := url.JoinPath(issuer, jwksPath)
	if err != nil {
		return nil, rpcError(fmt.Errorf("error determining jwks path: %w", err))
	}
	return &oidcDiscovery{
		Issuer: issuer,
		JWKS:   jwksURL,
		// RS256 as the OIDC spec requires, EdDSA for pre-1.7 keys (Nomad's list).
		IDTokenAlgs:   []string{"RS256", "EdDSA"},
		ResponseTypes: []string{"code"},
		Subjects:      []string{"public"},
	}, nil
}
