package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// APIStore is the storage APIManager needs.
type APIStore interface {
	store.APIs
}

// APIManager imports and changes APIs with every rule applied; the admin
// API and the CLI share it.
type APIManager struct {
	Store APIStore
	// Reserved are path prefixes owned by the platform that no API may
	// take (/oauth2, /.well-known, /docs, /admin …).
	Reserved []string
	// OnChange, when set, is called after every change (to reload the
	// route table at once on this node).
	OnChange func()
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Secret is the system secret that seals upstream client keys
	// (ClientKeyPurpose). Empty means a client key is refused.
	Secret string
	// OnDeprecated, when set, is told when an update announces an API's
	// deprecation or changes its dates or successor.
	OnDeprecated func(ctx context.Context, name string, l store.APILifecycle)
}

// ImportOptions are the operator's choices when importing a document.
type ImportOptions struct {
	// Name is the API's identifier. Empty means the first segment of the
	// base path ("/sim-swap/v2" → "sim-swap").
	Name string
	// BasePath is where the gateway serves it. Empty means the path of the
	// document's first server URL.
	BasePath string
	// Upstream is an http(s) URL or "sandbox:". Required.
	Upstream string
	// Status is sandbox, live or maintenance. Empty means sandbox when the
	// upstream is the sandbox, live otherwise.
	Status string
	// MaxBodyBytes bounds request bodies; 0 means the gateway default.
	MaxBodyBytes int64
	// ErrorMediaType is the Content-Type of the gateway's error bodies for
	// this API: application/json (default) or application/problem+json.
	ErrorMediaType string
	// UpstreamCAPEM is a PEM bundle of the CAs trusted for an https
	// upstream. Empty means the system roots.
	UpstreamCAPEM string
	// UpstreamServerName is the TLS server name (SNI and certificate check).
	// Empty means the upstream URL's host.
	UpstreamServerName string
	// UpstreamClientCertPEM and UpstreamClientKeyPEM are the certificate
	// chain and private key presented for mutual TLS; both or neither. The
	// key is sealed with the system secret before it is stored.
	UpstreamClientCertPEM string
	UpstreamClientKeyPEM  string
	// AllowUnderscoreHeaders forwards client header fields whose names
	// contain "_" (see store.UpstreamOptions).
	AllowUnderscoreHeaders bool
	// BreakerFailures, BreakerPauseMS and BreakerMaxPauseMS are the API's
	// circuit breaker (see store.UpstreamOptions); 0 means the platform's
	// setting.
	BreakerFailures   int
	BreakerPauseMS    int64
	BreakerMaxPauseMS int64
	// TryLive opens a live API to the portal's try-it console (see
	// store.UpstreamOptions).
	TryLive bool
}

// APIUpdate changes an API; nil fields are left as they are.
type APIUpdate struct {
	Document       []byte  `json:"-"`
	BasePath       *string `json:"base_path,omitempty"`
	ErrorMediaType *string `json:"error_media_type,omitempty"`
	Upstream       *string `json:"upstream_url,omitempty"`
	Status         *string `json:"status,omitempty"`
	MaxBodyBytes   *int64  `json:"max_body_bytes,omitempty"`
	// Upstream TLS options: an empty string removes the option. The client
	// certificate and key are given together (both empty removes them).
	UpstreamCAPEM          *string `json:"upstream_ca_pem,omitempty"`
	UpstreamServerName     *string `json:"upstream_server_name,omitempty"`
	UpstreamClientCertPEM  *string `json:"upstream_client_cert_pem,omitempty"`
	UpstreamClientKeyPEM   *string `json:"upstream_client_key_pem,omitempty"`
	AllowUnderscoreHeaders *bool   `json:"allow_underscore_headers,omitempty"`
	// Circuit breaker: 0 goes back to the platform's setting.
	BreakerFailures   *int   `json:"breaker_failures,omitempty"`
	BreakerPauseMS    *int64 `json:"breaker_pause_ms,omitempty"`
	BreakerMaxPauseMS *int64 `json:"breaker_max_pause_ms,omitempty"`
	// TryLive opens (true) or closes a live API to the portal's try-it.
	TryLive *bool `json:"try_live,omitempty"`
	// Deprecation announces (or, empty, withdraws) the API's deprecation.
	Deprecation *Deprecation `json:"deprecation,omitempty"`
}

// Deprecation is an API's deprecation as operators set and see it: At
// (RFC 9745's Deprecation: when the API is or will be deprecated), the
// optional Sunset (RFC 8594: when it is expected to stop answering) and
// Successor (the name of the API that replaces it). An update with a zero
// At withdraws the deprecation.
type Deprecation struct {
	At        time.Time `json:"at,omitzero"`
	Sunset    time.Time `json:"sunset,omitzero"`
	Successor string    `json:"successor,omitempty"`
}

// APIView is an API as operators see it.
type APIView struct {
	Name           string `json:"name"`
	Title          string `json:"title"`
	Version        string `json:"version"`
	BasePath       string `json:"base_path"`
	UpstreamURL    string `json:"upstream_url"`
	Status         string `json:"status"`
	ErrorMediaType string `json:"error_media_type"`
	MaxBodyBytes   int64  `json:"max_body_bytes"`
	// UpstreamCAPEM and UpstreamClientCertPEM are public certificates;
	// the client key is never shown, only whether one is set.
	UpstreamCAPEM          string `json:"upstream_ca_pem,omitempty"`
	UpstreamServerName     string `json:"upstream_server_name,omitempty"`
	UpstreamClientCertPEM  string `json:"upstream_client_cert_pem,omitempty"`
	UpstreamClientKeySet   bool   `json:"upstream_client_key_set"`
	AllowUnderscoreHeaders bool   `json:"allow_underscore_headers"`
	// The circuit breaker's settings for this API; 0 means the platform's.
	BreakerFailures   int   `json:"breaker_failures"`
	BreakerPauseMS    int64 `json:"breaker_pause_ms"`
	BreakerMaxPauseMS int64 `json:"breaker_max_pause_ms"`
	// TryLive: a live API is open to the portal's try-it console.
	TryLive bool `json:"try_live"`
	// Deprecation is set once a deprecation is announced.
	Deprecation *Deprecation    `json:"deprecation,omitempty"`
	Scopes      []string        `json:"scopes"`
	Operations  []OperationView `json:"operations"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// OperationView is one operation of an API.
type OperationView struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	OperationID string `json:"operation_id,omitempty"`
	// Scopes lists the alternatives: any one set, in full, is enough.
	Scopes [][]string `json:"scopes"`
}

// ViewAPI describes a stored API, deriving its operations from its document.
func ViewAPI(a *store.API) (*APIView, error) {
	spec, err := LoadSpec(a.Document)
	if err != nil {
		return nil, err
	}
	ops, err := spec.compileOperations()
	if err != nil {
		return nil, err
	}
	v := &APIView{
		Name: a.Name, Title: a.Title, Version: a.Version, BasePath: a.BasePath, UpstreamURL: a.UpstreamURL,
		Status: a.Status, ErrorMediaType: a.ErrorMediaType, MaxBodyBytes: a.MaxBodyBytes,
		Scopes: orEmpty(spec.Scopes), CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		UpstreamCAPEM: a.Upstream.CAPEM, UpstreamServerName: a.Upstream.ServerName,
		UpstreamClientCertPEM: a.Upstream.ClientCertPEM, UpstreamClientKeySet: len(a.Upstream.ClientKeySealed) > 0,
		AllowUnderscoreHeaders: a.Upstream.AllowUnderscoreHeaders,
		BreakerFailures:        a.Upstream.BreakerFailures, BreakerPauseMS: a.Upstream.BreakerPauseMS,
		BreakerMaxPauseMS: a.Upstream.BreakerMaxPauseMS, TryLive: a.Upstream.TryLive,
	}
	if l := a.Lifecycle; l.Deprecated() {
		v.Deprecation = &Deprecation{At: l.DeprecatedAt, Sunset: l.SunsetAt, Successor: l.Successor}
	}
	for _, op := range ops {
		scopes := op.security
		if scopes == nil {
			scopes = [][]string{}
		}
		v.Operations = append(v.Operations, OperationView{
			Method: op.method, Path: a.BasePath + op.template, OperationID: op.id, Scopes: scopes,
		})
	}
	slices.SortFunc(v.Operations, func(x, y OperationView) int {
		return strings.Compare(x.Path+" "+x.Method, y.Path+" "+y.Method)
	})
	return v, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (m *APIManager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *APIManager) changed() {
	if m.OnChange != nil {
		m.OnChange()
	}
}

var apiNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// basePathPattern allows unreserved characters only, so the path matches
// the same whether or not a client percent-encodes it.
var basePathPattern = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// Import validates an OpenAPI document and stores it as a new API.
func (m *APIManager) Import(ctx context.Context, doc []byte, o ImportOptions) (*APIView, error) {
	spec, err := LoadSpec(doc)
	if err != nil {
		return nil, invalidAPI("document", err.Error())
	}
	if _, err := spec.compileOperations(); err != nil {
		return nil, invalidAPI("document", err.Error())
	}
	base := o.BasePath
	if base == "" {
		base = spec.ServerPath
		if base == "" {
			return nil, invalidAPI("base_path", "the document's first server URL has no path; give --base-path")
		}
	}
	name := o.Name
	if name == "" {
		name = strings.ToLower(strings.Split(strings.Trim(base, "/"), "/")[0])
	}
	status := o.Status
	if status == "" {
		status = store.APILive
		if o.Upstream == SandboxUpstream {
			status = store.APISandbox
		}
	}
	if o.ErrorMediaType == "" {
		o.ErrorMediaType = problem.APIMediaTypes[0]
	}
	now := m.now()
	a := &store.API{
		Name: name, Title: spec.Title, Version: spec.Version, BasePath: strings.TrimSuffix(base, "/"),
		UpstreamURL: o.Upstream, Status: status, ErrorMediaType: o.ErrorMediaType,
		MaxBodyBytes: o.MaxBodyBytes, Document: doc, CreatedAt: now, UpdatedAt: now,
		Upstream: store.UpstreamOptions{
			AllowUnderscoreHeaders: o.AllowUnderscoreHeaders, BreakerFailures: o.BreakerFailures,
			BreakerPauseMS: o.BreakerPauseMS, BreakerMaxPauseMS: o.BreakerMaxPauseMS, TryLive: o.TryLive,
		},
	}
	if err := m.setUpstreamTLS(a, &o.UpstreamCAPEM, &o.UpstreamServerName, clientPair(o.UpstreamClientCertPEM, o.UpstreamClientKeyPEM)); err != nil {
		return nil, err
	}
	if err := m.check(a); err != nil {
		return nil, err
	}
	if err := m.Store.CreateAPI(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, problem.Newf(problem.AlreadyExistsDuplicate,
				"An API named %q or served at %s already exists; choose another --name or --base-path, or update it.", a.Name, a.BasePath)
		}
		return nil, problem.FromStore(err, "API", a.Name)
	}
	m.changed()
	return ViewAPI(a)
}

// check applies the rules every stored API satisfies.
func (m *APIManager) check(a *store.API) error {
	if !apiNamePattern.MatchString(a.Name) {
		return invalidAPI("name", fmt.Sprintf("%q must be lowercase letters, digits and dashes (at most 63)", a.Name))
	}
	if !basePathPattern.MatchString(a.BasePath) {
		return invalidAPI("base_path", fmt.Sprintf("%q must be an absolute path of letters, digits and ._~- segments, e.g. /sim-swap/v2", a.BasePath))
	}
	for _, r := range m.Reserved {
		if a.BasePath == r || strings.HasPrefix(a.BasePath, r+"/") || strings.HasPrefix(r, a.BasePath+"/") {
			return invalidAPI("base_path", fmt.Sprintf("%s overlaps %s, which the platform serves", a.BasePath, r))
		}
	}
	if a.UpstreamURL == "" {
		return invalidAPI("upstream_url", "an upstream is required: an http(s) URL, or sandbox: for the built-in sandbox")
	}
	if a.UpstreamURL != SandboxUpstream {
		u, err := url.Parse(a.UpstreamURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return invalidAPI("upstream_url", fmt.Sprintf("%q must be an http(s) URL without query or fragment, or sandbox:", a.UpstreamURL))
		}
	}
	switch a.Status {
	case store.APISandbox, store.APILive, store.APIMaintenance:
	default:
		return invalidAPI("status", fmt.Sprintf("%q must be sandbox, live or maintenance", a.Status))
	}
	if err := checkUpstreamTLS(a); err != nil {
		return err
	}
	if err := checkBreaker(a.Upstream); err != nil {
		return err
	}
	if !slices.Contains(problem.APIMediaTypes, a.ErrorMediaType) {
		return invalidAPI("error_media_type", fmt.Sprintf("%q must be one of %s", a.ErrorMediaType, strings.Join(problem.APIMediaTypes, ", ")))
	}
	if a.MaxBodyBytes < 0 || a.MaxBodyBytes > 64<<20 {
		return invalidAPI("max_body_bytes", "must be between 0 (the default) and 64 MiB")
	}
	return nil
}

// checkLifecycle checks a deprecation: a sunset needs a deprecation and
// comes after it, and a successor is another API (Update checks that it
// exists).
func checkLifecycle(a *store.API) error {
	l := a.Lifecycle
	if !l.Deprecated() {
		if !l.SunsetAt.IsZero() || l.Successor != "" {
			return invalidAPI("deprecation.at", "a sunset or a successor needs the deprecation's date (at); an empty deprecation withdraws it")
		}
		return nil
	}
	if !l.SunsetAt.IsZero() && !l.SunsetAt.After(l.DeprecatedAt) {
		return invalidAPI("deprecation.sunset", fmt.Sprintf("the sunset (%s) must come after the deprecation (%s)",
			l.SunsetAt.UTC().Format(time.RFC3339), l.DeprecatedAt.UTC().Format(time.RFC3339)))
	}
	if l.Successor == "" {
		return nil
	}
	if l.Successor == a.Name {
		return invalidAPI("deprecation.successor", "an API cannot succeed itself")
	}
	return nil
}

// Get returns one API.
func (m *APIManager) Get(ctx context.Context, name string) (*APIView, error) {
	a, err := m.Store.GetAPI(ctx, name)
	if err != nil {
		return nil, problem.FromStore(err, "API", name)
	}
	return ViewAPI(a)
}

// Document returns an API's stored OpenAPI document.
func (m *APIManager) Document(ctx context.Context, name string) ([]byte, error) {
	a, err := m.Store.GetAPI(ctx, name)
	if err != nil {
		return nil, problem.FromStore(err, "API", name)
	}
	return a.Document, nil
}

// List returns every API.
func (m *APIManager) List(ctx context.Context) ([]*APIView, error) {
	list, err := m.Store.ListAPIs(ctx)
	if err != nil {
		return nil, problem.FromStore(err, "API", "")
	}
	out := make([]*APIView, 0, len(list))
	for _, a := range list {
		v, err := ViewAPI(a)
		if err != nil {
			return nil, problem.Internal(fmt.Errorf("stored API %s does not load: %w", a.Name, err))
		}
		out = append(out, v)
	}
	return out, nil
}

// Update changes an API. A new document replaces the old one whole.
func (m *APIManager) Update(ctx context.Context, name string, u APIUpdate) (*APIView, error) {
	var spec *Spec
	if u.Document != nil {
		var err error
		if spec, err = LoadSpec(u.Document); err != nil {
			return nil, invalidAPI("document", err.Error())
		}
		if _, err := spec.compileOperations(); err != nil {
			return nil, invalidAPI("document", err.Error())
		}
	}
	if d := u.Deprecation; d != nil && d.Successor != "" && d.Successor != name {
		if _, err := m.Store.GetAPI(ctx, d.Successor); errors.Is(err, store.ErrNotFound) {
			return nil, invalidAPI("deprecation.successor", fmt.Sprintf("there is no API named %q; import the successor first", d.Successor))
		} else if err != nil {
			return nil, problem.FromStore(err, "API", d.Successor)
		}
	}
	var before store.APILifecycle
	a, err := m.Store.UpdateAPI(ctx, name, func(a *store.API) error {
		before = a.Lifecycle
		if spec != nil {
			a.Document, a.Title, a.Version = u.Document, spec.Title, spec.Version
		}
		if u.BasePath != nil {
			a.BasePath = strings.TrimSuffix(*u.BasePath, "/")
		}
		if u.Upstream != nil {
			a.UpstreamURL = *u.Upstream
		}
		if u.Status != nil {
			a.Status = *u.Status
		}
		if u.MaxBodyBytes != nil {
			a.MaxBodyBytes = *u.MaxBodyBytes
		}
		if u.ErrorMediaType != nil {
			a.ErrorMediaType = *u.ErrorMediaType
		}
		if u.AllowUnderscoreHeaders != nil {
			a.Upstream.AllowUnderscoreHeaders = *u.AllowUnderscoreHeaders
		}
		if u.BreakerFailures != nil {
			a.Upstream.BreakerFailures = *u.BreakerFailures
		}
		if u.BreakerPauseMS != nil {
			a.Upstream.BreakerPauseMS = *u.BreakerPauseMS
		}
		if u.BreakerMaxPauseMS != nil {
			a.Upstream.BreakerMaxPauseMS = *u.BreakerMaxPauseMS
		}
		if u.TryLive != nil {
			a.Upstream.TryLive = *u.TryLive
		}
		if d := u.Deprecation; d != nil {
			a.Lifecycle = store.APILifecycle{DeprecatedAt: d.At, SunsetAt: d.Sunset, Successor: d.Successor}
			if err := checkLifecycle(a); err != nil {
				return err
			}
		}
		var client *[2]string
		switch {
		case u.UpstreamClientCertPEM != nil && u.UpstreamClientKeyPEM != nil:
			client = &[2]string{*u.UpstreamClientCertPEM, *u.UpstreamClientKeyPEM}
		case u.UpstreamClientCertPEM != nil:
			return invalidAPI("upstream_client_key_pem", "give the client key with the client certificate (both empty removes them)")
		case u.UpstreamClientKeyPEM != nil:
			return invalidAPI("upstream_client_cert_pem", "give the client certificate with the client key (both empty removes them)")
		}
		if err := m.setUpstreamTLS(a, u.UpstreamCAPEM, u.UpstreamServerName, client); err != nil {
			return err
		}
		a.UpdatedAt = m.now()
		return m.check(a)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, problem.Newf(problem.AlreadyExistsDuplicate, "Another API is already served at that base path.")
		}
		return nil, problem.FromStore(err, "API", name)
	}
	m.changed()
	if l := a.Lifecycle; l.Deprecated() && m.OnDeprecated != nil && (!l.DeprecatedAt.Equal(before.DeprecatedAt) ||
		!l.SunsetAt.Equal(before.SunsetAt) || l.Successor != before.Successor) {
		m.OnDeprecated(ctx, a.Name, l)
	}
	return ViewAPI(a)
}

// Delete removes an API; its routes stop answering.
func (m *APIManager) Delete(ctx context.Context, name string) error {
	if err := m.Store.DeleteAPI(ctx, name); err != nil {
		return problem.FromStore(err, "API", name)
	}
	m.changed()
	return nil
}

// clientPair is the client certificate and key of an import: nil when
// neither is given.
func clientPair(cert, key string) *[2]string {
	if cert == "" && key == "" {
		return nil
	}
	return &[2]string{cert, key}
}

var serverNamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$`)

// setUpstreamTLS applies the upstream TLS options given (nil leaves one
// as it is, "" removes it), checking each and sealing the client key; the
// key is bound to the API's name.
func (m *APIManager) setUpstreamTLS(a *store.API, ca, serverName *string, client *[2]string) error {
	o := &a.Upstream
	if ca != nil {
		if *ca != "" {
			if _, err := ParseCABundle([]byte(*ca)); err != nil {
				return invalidAPI("upstream_ca_pem", "not a PEM bundle of CA certificates: "+err.Error())
			}
		}
		o.CAPEM = *ca
	}
	if serverName != nil {
		if *serverName != "" && (len(*serverName) > 253 || !serverNamePattern.MatchString(*serverName)) {
			return invalidAPI("upstream_server_name", fmt.Sprintf("%q must be a DNS host name, e.g. backend.internal", *serverName))
		}
		o.ServerName = *serverName
	}
	if client == nil {
		return nil
	}
	cert, key := client[0], client[1]
	switch {
	case cert == "" && key == "":
		o.ClientCertPEM, o.ClientKeySealed = "", nil
		return nil
	case cert == "":
		return invalidAPI("upstream_client_cert_pem", "a client key needs its client certificate")
	case key == "":
		return invalidAPI("upstream_client_key_pem", "a client certificate needs its private key")
	}
	if !strings.Contains(cert, "-----BEGIN CERTIFICATE-----") {
		return invalidAPI("upstream_client_cert_pem", "not a PEM certificate (want a -----BEGIN CERTIFICATE----- block)")
	}
	if !strings.Contains(key, "PRIVATE KEY-----") {
		return invalidAPI("upstream_client_key_pem", "not a PEM private key (want a -----BEGIN PRIVATE KEY----- block)")
	}
	if _, err := tls.X509KeyPair([]byte(cert), []byte(key)); err != nil {
		// X509KeyPair's messages name the problem, never the key's bytes.
		return invalidAPI("upstream_client_key_pem", "the client certificate and key do not form a pair: "+strings.TrimPrefix(err.Error(), "tls: "))
	}
	sealed, err := seal.Box{Secret: m.Secret, Purpose: ClientKeyPurpose}.Seal(a.Name, []byte(key))
	if err != nil {
		return problem.Internal(fmt.Errorf("sealing the upstream client key: %w", err))
	}
	o.ClientCertPEM, o.ClientKeySealed = cert, sealed
	return nil
}

// checkUpstreamTLS keeps TLS options on https upstreams only, so an option
// never silently stops applying.
func checkUpstreamTLS(a *store.API) error {
	o := a.Upstream
	if strings.HasPrefix(a.UpstreamURL, "https://") {
		if (o.ClientCertPEM == "") != (len(o.ClientKeySealed) == 0) {
			return invalidAPI("upstream_client_key_pem", "the client certificate and its key are set together")
		}
		return nil
	}
	for _, f := range []struct{ field, value string }{
		{"upstream_ca_pem", o.CAPEM}, {"upstream_server_name", o.ServerName}, {"upstream_client_cert_pem", o.ClientCertPEM},
	} {
		if f.value != "" {
			return invalidAPI(f.field, fmt.Sprintf("applies to https upstreams only, and the upstream is %s; remove it (give it empty) or use an https upstream", a.UpstreamURL))
		}
	}
	return nil
}

// Limits of an API's circuit breaker settings.
const (
	maxBreakerFailures = 1000
	minBreakerPauseMS  = 10
	maxBreakerPauseMS  = int64(time.Hour / time.Millisecond)
	maxBreakerCapMS    = int64(24 * time.Hour / time.Millisecond)
)

// checkBreaker refuses circuit breaker settings that make no sense; 0 is
// the platform's setting for each.
func checkBreaker(o store.UpstreamOptions) error {
	if o.BreakerFailures < 0 || o.BreakerFailures > maxBreakerFailures {
		return invalidAPI("breaker_failures", fmt.Sprintf("%d must be between 1 and %d consecutive failures, or 0 for the platform default", o.BreakerFailures, maxBreakerFailures))
	}
	if o.BreakerPauseMS != 0 && (o.BreakerPauseMS < minBreakerPauseMS || o.BreakerPauseMS > maxBreakerPauseMS) {
		return invalidAPI("breaker_pause_ms", fmt.Sprintf("%v must be between %v and %v, or 0 for the platform default", msDuration(o.BreakerPauseMS), msDuration(minBreakerPauseMS), msDuration(maxBreakerPauseMS)))
	}
	if o.BreakerMaxPauseMS != 0 && (o.BreakerMaxPauseMS < minBreakerPauseMS || o.BreakerMaxPauseMS > maxBreakerCapMS) {
		return invalidAPI("breaker_max_pause_ms", fmt.Sprintf("%v must be between %v and %v, or 0 for the platform default", msDuration(o.BreakerMaxPauseMS), msDuration(minBreakerPauseMS), msDuration(maxBreakerCapMS)))
	}
	if o.BreakerPauseMS != 0 && o.BreakerMaxPauseMS != 0 && o.BreakerMaxPauseMS < o.BreakerPauseMS {
		return invalidAPI("breaker_max_pause_ms", fmt.Sprintf("the cap %v is below the first pause %v; it must be at least as long", msDuration(o.BreakerMaxPauseMS), msDuration(o.BreakerPauseMS)))
	}
	return nil
}

// msDuration shows milliseconds as a duration ("1.5s"), or as a number of
// milliseconds when too large for one.
func msDuration(ms int64) string {
	if ms < 0 || ms > 1<<40 {
		return fmt.Sprintf("%d ms", ms)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

func invalidAPI(field, why string) *problem.Error {
	return problem.Newf(problem.BadRequestInvalidParameter, "%s: %s.", field, strings.TrimSuffix(why, ".")).With("field", field)
}
