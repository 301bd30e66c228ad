// Package store defines gatehouse's durable records and the one storage
// contract every backend (SQLite, PostgreSQL) implements. It is plain
// persistence: rules about secrets, scopes and tokens live in the feature
// packages. Backends are in store/sql; the conformance suite every backend
// passes is store/storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors are part of the contract: every backend returns them
// (possibly wrapped) and callers match with errors.Is. Each also names its
// kind (StoreFailureKind), which is how the error registry
// (problem.FromStore) maps them without importing this package.
var (
	// ErrNotFound means no record has the requested key.
	ErrNotFound = &failure{"store: not found", "not_found"}
	// ErrConflict means the write conflicts with stored records: a record
	// with the same unique key exists, (deleting a plan) others still refer
	// to it, or (redeeming a code, rotating a refresh token) it was already
	// used, rotated or revoked.
	ErrConflict = &failure{"store: conflicts with stored records", "conflict"}
	// ErrUnavailable means the backend could not be reached, or did not
	// answer within the store's time limit; callers answer 503 rather
	// than 500. A write that fails with it may, rarely, have been committed
	// all the same (the commit was sent and no answer came back): callers
	// that must not repeat a write use an idempotency key.
	ErrUnavailable = &failure{"store: unavailable", "unavailable"}
	// ErrStorageFull means the database refused a write for lack of
	// space (a full disk, a size limit); nothing was written. Callers
	// answer 503 with its own cause.
	ErrStorageFull = &failure{"store: no space left for writes", "storage_full"}
	// ErrReadOnly means the database refused a write because it is
	// read-only (a read-only file or mount, a PostgreSQL standby or
	// default_transaction_read_only); nothing was written. Callers answer
	// 503 with its own cause.
	ErrReadOnly = &failure{"store: database is read-only", "read_only"}
)

// failure is a sentinel error that names its kind for problem.StoreFailure.
type failure struct{ msg, kind string }

func (e *failure) Error() string { return e.msg }

// StoreFailureKind implements problem.StoreFailure.
func (e *failure) StoreFailureKind() string { return e.kind }

type timeoutKey struct{}

// WithTimeout returns ctx carrying a time limit for the store calls made
// with it, in place of the store's own (store_timeout): for background
// maintenance (pruning) that may rightly take longer than a request's
// call. A deadline of ctx itself still applies.
func WithTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, timeoutKey{}, d)
}

// TimeoutFrom returns the time limit WithTimeout put in ctx, if any.
func TimeoutFrom(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(timeoutKey{}).(time.Duration)
	return d, ok
}

// Client statuses.
const (
	ClientActive    = "active"
	ClientSuspended = "suspended"
)

// Client is an OAuth client (a developer's app).
type Client struct {
	ID   string
	Name string
	// SecretHash is the SHA-256 digest of the current secret; empty for
	// clients that do not use a secret.
	SecretHash []byte
	// PreviousSecretHash is the digest of the secret replaced by the last
	// rotation, valid until PreviousSecretExpiresAt.
	PreviousSecretHash      []byte
	PreviousSecretExpiresAt time.Time
	GrantTypes              []string
	Scopes                  []string
	RedirectURIs            []string
	// TokenEndpointAuthMethod is one of client_secret_basic,
	// client_secret_post, private_key_jwt, none.
	TokenEndpointAuthMethod string
	// JWKS is the client's public JSON Web Key Set (private_key_jwt), raw
	// JSON; empty when unused.
	JWKS   string
	Status string
	// AppID and Environment tie a client to a developer organisation's app
	// as its sandbox or production credential; both empty for clients an
	// operator made outside the portal.
	AppID       string
	Environment string
	// LastUsedAt is the start of the last usage hour in which the client
	// called an API (RecordClientUse); zero when never.
	LastUsedAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Environments of an app's credentials.
const (
	EnvironmentSandbox    = "sandbox"
	EnvironmentProduction = "production"
)

// SigningKey is one of the authorization server's token-signing keys.
type SigningKey struct {
	ID        string // the JWK kid
	Algorithm string // e.g. ES256
	// PrivateKey is the encrypted private key (the caller encrypts).
	PrivateKey []byte
	// PublicJWK is the public key as a JWK, raw JSON.
	PublicJWK []byte
	CreatedAt time.Time
	// RetiredAt is set when a newer key replaced this one; zero while it is
	// the current key. Retired keys stay published until they are pruned.
	RetiredAt time.Time
}

// RevokedToken records a revoked access token by its jti until it expires.
type RevokedToken struct {
	ID        string // jti
	ClientID  string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// API statuses.
const (
	APISandbox     = "sandbox"
	APILive        = "live"
	APIMaintenance = "maintenance"
)

// API is an API offered through the gateway: an OpenAPI document plus where
// and how it is served.
type API struct {
	// Name is the API's stable identifier (a slug such as "sim-swap").
	Name string
	// Title and Version are copied from the document's info for listings.
	Title   string
	Version string
	// BasePath is where the gateway serves the API's paths, e.g.
	// "/sim-swap/v2". Unique across APIs.
	BasePath string
	// UpstreamURL is where requests are forwarded; "sandbox:" means the
	// built-in sandbox upstream.
	UpstreamURL string
	// Status is sandbox, live or maintenance.
	Status string
	// ErrorMediaType is the Content-Type of the gateway's error bodies for
	// this API (default application/json).
	ErrorMediaType string
	// MaxBodyBytes bounds request bodies (413 beyond); 0 means the default.
	MaxBodyBytes int64
	// Upstream holds how the gateway connects and forwards to UpstreamURL.
	Upstream UpstreamOptions
	// Lifecycle holds the API's deprecation, if any.
	Lifecycle APILifecycle
	// Document is the OpenAPI 3.0/3.1 document as imported (YAML or JSON).
	Document  []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// APILifecycle is an API's deprecation (RFC 9745) and sunset (RFC 8594).
// The store keeps it as one JSON document, like UpstreamOptions.
type APILifecycle struct {
	// DeprecatedAt is when the API is (or will be) deprecated; zero when
	// it is not.
	DeprecatedAt time.Time `json:"deprecated_at,omitzero"`
	// SunsetAt is when it is expected to stop answering; zero when not
	// announced.
	SunsetAt time.Time `json:"sunset_at,omitzero"`
	// Successor names the API that replaces it, if any.
	Successor string `json:"successor,omitempty"`
}

// Deprecated reports whether a deprecation is announced (it may take
// effect later).
func (l APILifecycle) Deprecated() bool { return !l.DeprecatedAt.IsZero() }

// UpstreamOptions are an API's per-upstream connection and forwarding
// settings. The store keeps them as one JSON document, so an option added
// later needs no migration; the zero value is the default for each.
type UpstreamOptions struct {
	// CAPEM is a PEM bundle of certificate authorities trusted for an
	// https upstream instead of the system roots; empty means the system
	// roots.
	CAPEM string `json:"ca_pem,omitempty"`
	// ServerName is the TLS server name (SNI and certificate check) when
	// it differs from the upstream URL's host.
	ServerName string `json:"server_name,omitempty"`
	// ClientCertPEM is the certificate chain gatehouse presents for mutual
	// TLS to the upstream; ClientKeySealed is its private key, sealed by
	// the caller before it is stored (never stored in clear).
	ClientCertPEM   string `json:"client_cert_pem,omitempty"`
	ClientKeySealed []byte `json:"client_key_sealed,omitempty"`
	// AllowUnderscoreHeaders forwards client header fields whose names
	// contain "_". They are dropped by default: CGI, WSGI, PHP and Rack
	// backends read "X_Foo" and "X-Foo" as the same variable.
	AllowUnderscoreHeaders bool `json:"allow_underscore_headers,omitempty"`
	// BreakerFailures, BreakerPauseMS and BreakerMaxPauseMS override the
	// platform's circuit breaker settings for this API: consecutive
	// failures that open the circuit, the first pause and the cap of its
	// doubling, in milliseconds. Zero means the platform's setting.
	BreakerFailures   int   `json:"breaker_failures,omitempty"`
	BreakerPauseMS    int64 `json:"breaker_pause_ms,omitempty"`
	BreakerMaxPauseMS int64 `json:"breaker_max_pause_ms,omitempty"`
	// TryLive opens a live API to the portal's try-it console, which then
	// calls it with the developer's sandbox app. It is kept here, with
	// the options stored as JSON, to need no migration; it does not
	// change the connection (the gateway's upstream key leaves it out).
	// Sandbox APIs are always open to try-it, APIs in maintenance never.
	TryLive bool `json:"try_live,omitempty"`
}

// APIs stores the gateway's APIs.
type APIs interface {
	// CreateAPI stores a new API; ErrConflict when the name or the base
	// path is taken.
	CreateAPI(ctx context.Context, a *API) error
	GetAPI(ctx context.Context, name string) (*API, error)
	// ListAPIs returns every API ordered by name.
	ListAPIs(ctx context.Context) ([]*API, error)
	// UpdateAPI reads, calls update on a copy and writes, in one
	// transaction; ErrConflict when the new base path is taken.
	UpdateAPI(ctx context.Context, name string, update func(a *API) error) (*API, error)
	DeleteAPI(ctx context.Context, name string) error
	// APIsGeneration returns a counter that every CreateAPI, UpdateAPI
	// and DeleteAPI increases in its own transaction, so every node can
	// notice any change (deletions included) with one cheap read and reload
	// its route table. It starts at 0 and never decreases.
	APIsGeneration(ctx context.Context) (int64, error)
	// ListAPIVersions returns every document the API has had, oldest
	// first: the store records one when the API is created and whenever
	// its document changes, in the same transaction.
	ListAPIVersions(ctx context.Context, name string) ([]*APIVersion, error)
}

// APIVersion is one document an API had, from CreatedAt on.
type APIVersion struct {
	APIName   string
	Version   string
	Title     string
	Document  []byte
	CreatedAt time.Time
}

// Plan is what a developer buys: a rate with a burst and request quotas.
type Plan struct {
	// Name is the plan's stable identifier ("sandbox", "starter").
	Name string
	// PriceLabel is shown in the portal ("Free", "€49 / month"); no
	// payment is processed.
	PriceLabel  string
	Description string
	// RatePerSecond and Burst: the sustained rate and the burst; 0 rate
	// means unlimited.
	RatePerSecond float64
	Burst         int64
	// QuotaDay and QuotaMonth cap requests per UTC day and month; 0 means
	// none.
	QuotaDay   int64
	QuotaMonth int64
	// RequiresApproval makes new subscriptions pending until an operator
	// approves them.
	RequiresApproval bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Subscription statuses.
const (
	SubscriptionActive  = "active"
	SubscriptionPending = "pending"
)

// Subscription binds an app (client) to an API and a plan. One per client
// and API.
type Subscription struct {
	ID       string
	ClientID string
	APIName  string
	// PlanName is the plan in force while Status is active; while it is
	// pending (a new subscription waiting for approval), the plan asked
	// for.
	PlanName string
	// PendingPlanName is the plan a change asked for that waits for an
	// operator's approval, while PlanName stays in force; "" when none.
	// A plan cannot be deleted while it is pending for a subscription.
	PendingPlanName string
	Status          string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// SubscriptionFilter selects subscriptions; empty fields match all.
type SubscriptionFilter struct {
	ClientID string
	APIName  string
	PlanName string
}

// Plans stores plans.
type Plans interface {
	// CreatePlan: ErrConflict when the name is taken.
	CreatePlan(ctx context.Context, p *Plan) error
	GetPlan(ctx context.Context, name string) (*Plan, error)
	// ListPlans returns every plan ordered by name.
	ListPlans(ctx context.Context) ([]*Plan, error)
	// UpdatePlan reads, calls update on a copy and writes, in one
	// transaction. update must not change Name nor call the store.
	UpdatePlan(ctx context.Context, name string, update func(p *Plan) error) (*Plan, error)
	// DeletePlan: ErrConflict while a subscription uses the plan, or has
	// it pending.
	DeletePlan(ctx context.Context, name string) error
}

// Subscriptions stores subscriptions. Deleting a client or an API deletes
// its subscriptions. A subscription deleted otherwise than by
// Orders.PlaceOrder (DeleteSubscription, with its client or API) keeps
// its orders, and its pending order becomes OrderSuperseded: nothing is
// left to approve.
type Subscriptions interface {
	// CreateSubscription: ErrConflict when the client already has one for
	// the API; ErrNotFound when the client, API or plan does not exist.
	CreateSubscription(ctx context.Context, s *Subscription) error
	GetSubscription(ctx context.Context, id string) (*Subscription, error)
	// FindSubscription returns the client's subscription to the API.
	FindSubscription(ctx context.Context, clientID, apiName string) (*Subscription, error)
	// ListSubscriptions returns matching subscriptions ordered by client
	// then API.
	ListSubscriptions(ctx context.Context, f SubscriptionFilter) ([]*Subscription, error)
	// UpdateSubscription reads, calls update on a copy and writes, in one
	// transaction; ErrNotFound when the new plan (or pending plan) does
	// not exist. update
	// must not change ID, ClientID or APIName nor call the store.
	UpdateSubscription(ctx context.Context, id string, update func(s *Subscription) error) (*Subscription, error)
	DeleteSubscription(ctx context.Context, id string) error
	// AccessGeneration returns a counter every write to plans and
	// subscriptions increases in its own transaction (deletions, and
	// subscriptions removed with their client or API, included), so nodes
	// can drop cached subscriptions with one cheap read.
	AccessGeneration(ctx context.Context) (int64, error)
}

// Order kinds: what an order asked for.
const (
	OrderSubscribe = "subscribe"
	OrderChange    = "change" // of plan: upgrade or downgrade alike
	OrderCancel    = "cancel"
	OrderApprove   = "approve" // an operator approved a pending order
	OrderRefuse    = "refuse"  // an operator refused a pending order
)

// Order statuses.
const (
	OrderCompleted = "completed"
	// OrderPending waits for an operator's approval. A subscription has
	// at most one pending order.
	OrderPending = "pending"
	// OrderRefused was refused by an operator.
	OrderRefused = "refused"
	// OrderSuperseded was still pending when a later order of the same
	// subscription replaced it (a new change, a cancellation), or when
	// the subscription was deleted.
	OrderSuperseded = "superseded"
)

// Order is one purchase record: a subscription bought, changed or
// cancelled, or an operator's decision on one. Orders are history: they
// name what they were about rather than refer to it, and outlive the
// subscription, client, app, organisation and API they name.
type Order struct {
	ID string
	// OrganizationID and AppID are the organisation and app the order was
	// placed for; "" when unknown (an operator's order for a client
	// outside the portal).
	OrganizationID string
	AppID          string
	// DeveloperID is who placed the order; "" for an operator.
	DeveloperID    string
	ClientID       string
	APIName        string
	SubscriptionID string
	Kind           string
	// FromPlan is the plan in force before the order ("" when none: a
	// new subscription, or one still waiting for approval); ToPlan the
	// plan the order asked for ("" for a cancellation).
	FromPlan string
	ToPlan   string
	// PriceLabel is ToPlan's price label when the order was placed.
	PriceLabel string
	Status     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// OrderFilter selects orders; empty fields match all.
type OrderFilter struct {
	OrganizationID string
	AppID          string
	ClientID       string
	SubscriptionID string
	Status         string
}

// Orders stores orders. A subscription change made for someone (a
// developer in the portal, an operator) is written with PlaceOrder,
// together with its order in one transaction, so that neither is ever
// stored without the other.
type Orders interface {
	// PlaceOrder writes the order o and the change it makes to the
	// subscription o.SubscriptionID, in one transaction. It reads the
	// subscription (nil when none has that ID) and its pending order (nil
	// when none) and calls decide with copies of them. decide completes
	// o, may change pending's Status, and returns the subscription as it
	// must be stored:
	//   - with none stored, a new subscription with ID o.SubscriptionID,
	//     created as CreateSubscription creates one (a nil one writes
	//     nothing and returns ErrNotFound);
	//   - the changed copy, updated as UpdateSubscription updates one;
	//   - nil, which deletes the stored one.
	// The pending order is written back with the current UpdatedAt when
	// decide changed its Status, then o is stored (zero CreatedAt and
	// UpdatedAt filled as CreateSubscription fills them, and written back
	// into o), and the access generation increases by one. PlaceOrder
	// returns the subscription as stored (nil when deleted).
	//
	// An error from decide is returned unchanged and nothing is written.
	// ErrConflict when o.ID is taken, when o is pending while another
	// order of the subscription still is, or as CreateSubscription;
	// ErrNotFound as CreateSubscription and UpdateSubscription. decide
	// must not change the subscription's ID, ClientID or APIName, nor
	// pending's fields but Status, nor call the store.
	PlaceOrder(ctx context.Context, o *Order, decide func(s *Subscription, pending *Order) (*Subscription, error)) (*Subscription, error)
	// ListOrders returns the matching orders, newest first (by CreatedAt,
	// then the order they were stored in).
	ListOrders(ctx context.Context, f OrderFilter) ([]*Order, error)
}

// UsageRecord is one bucket of gateway calls: per client, API, UTC hour,
// status and error (empty for successes).
type UsageRecord struct {
	ClientID string
	APIName  string
	// Hour is the bucket's start, truncated to the hour, UTC.
	Hour   time.Time
	Status int
	// Error is "key/cause" of the registry error, "" when none.
	Error string
	Count int64
	// LatencySum and LatencyMax in microseconds.
	LatencySum int64
	LatencyMax int64
	// Latency counts the calls by latency, for percentiles. AddUsage adds
	// it to the hour's histogram of the client and API (over every status
	// and error); ListUsage leaves it empty: ListUsageLatency reads it.
	Latency LatencyHistogram
}

// LatencyBounds are the upper bounds of the latency histogram's buckets,
// the last open-ended: from a quarter millisecond, where a sandbox call
// ends, to the 30 s an upstream may take.
var LatencyBounds = [LatencyBuckets - 1]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// LatencyBuckets is the number of buckets of a LatencyHistogram.
const LatencyBuckets = 16

// LatencyHistogram counts calls per latency bucket: bucket i holds the
// calls that took at most LatencyBounds[i] (and more than the bound
// before); the last, those that took longer than every bound.
type LatencyHistogram [LatencyBuckets]int64

// Add counts one call that took d.
func (h *LatencyHistogram) Add(d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	h[i]++
}

// Merge adds o's counts to h.
func (h *LatencyHistogram) Merge(o *LatencyHistogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count returns the number of calls h counts.
func (h *LatencyHistogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile estimates the latency below which a fraction q of the calls
// fell, interpolating linearly within the bucket it lands in (as
// Prometheus's histogram_quantile does); highest, the largest latency
// seen, bounds the open last bucket and the estimate. It returns 0 for an
// empty histogram.
func (h *LatencyHistogram) Quantile(q float64, highest time.Duration) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var below int64
	for i, c := range h {
		if c == 0 || float64(below+c) < rank {
			below += c
			continue
		}
		var lo, hi time.Duration
		if i > 0 {
			lo = LatencyBounds[i-1]
		}
		if i < len(LatencyBounds) {
			hi = LatencyBounds[i]
		} else {
			hi = max(highest, lo)
		}
		est := lo + time.Duration(float64(hi-lo)*(rank-float64(below))/float64(c))
		if highest > 0 {
			est = min(est, highest)
		}
		return est
	}
	return highest
}

// UsageLatency is the latency histogram of a client's calls to an API in
// one hour (UTC).
type UsageLatency struct {
	ClientID string
	APIName  string
	Hour     time.Time
	Latency  LatencyHistogram
}

// UsageFilter selects usage buckets in [From, To); empty fields match all.
type UsageFilter struct {
	ClientID string
	APIName  string
	From, To time.Time
}

// Usage stores call counts.
type Usage interface {
	// AddUsage adds each record's counts to its bucket (sums counts and
	// latency sums, keeps the larger max), all in one transaction: a batch
	// is written whole or not at all.
	AddUsage(ctx context.Context, records []UsageRecord) error
	// ListUsage returns matching buckets ordered by hour, client, API,
	// status, error.
	ListUsage(ctx context.Context, f UsageFilter) ([]UsageRecord, error)
	// ListUsageLatency returns the matching hours' latency histograms
	// ordered by hour, client, API.
	ListUsageLatency(ctx context.Context, f UsageFilter) ([]UsageLatency, error)
}

// Stages of the gateway's pipeline, in order: the one that decided a
// call (RequestLog.Stage). A call that passed every check was decided by
// its upstream (StageUpstream), whatever the upstream answered.
const (
	StagePath         = "path"         // path and query checks
	StageRoute        = "route"        // API path and method
	StageContent      = "content"      // Accept, Content-Type, declared size
	StageToken        = "token"        // the bearer token
	StageScope        = "scope"        // the operation's scopes
	StageEnvironment  = "environment"  // sandbox or production credential
	StageSubscription = "subscription" // the app's subscription to the API
	StageRate         = "rate"         // the plan's rate limit
	StageQuota        = "quota"        // the plan's quotas
	StageValidation   = "validation"   // body size, parameters and schema
	StageUpstream     = "upstream"     // maintenance, the upstream's answer
)

// RequestLog is one gateway call as the request log keeps it: who called
// (organisation, app, client), what (API and operation), what the gateway
// decided and where, and how long it took.
type RequestLog struct {
	// ID is assigned by the store when the record is written; it orders
	// records of one Time (keyset pagination). Zero on input.
	ID   int64
	Time time.Time
	// Correlator is the call's x-correlator (sent by the client, so not
	// unique, or generated).
	Correlator string
	// OrganizationID and AppID are the caller's, when its client is a
	// portal app's credential; empty otherwise (an operator's client, or
	// no valid token).
	OrganizationID string
	AppID          string
	ClientID       string
	// Environment is the client's (EnvironmentSandbox or
	// EnvironmentProduction), empty when none.
	Environment string
	APIName     string
	// Method, Template and OperationID name the operation; Template and
	// OperationID are empty when no operation matched.
	Method      string
	Template    string
	OperationID string
	Status      int
	// ErrorKey and Cause are the registry entry and cause of a failed
	// call, both empty for a success.
	ErrorKey string
	Cause    string
	// Stage is the pipeline stage that decided the call (Stage…).
	Stage string
	// Plan is the plan the call was counted against, when known.
	Plan string
	// Latency is the gateway's whole time on the call; UpstreamLatency
	// the upstream exchange's part of it (zero when none was made).
	// Both are kept to the microsecond.
	Latency         time.Duration
	UpstreamLatency time.Duration
	// UpstreamStatus is the status the upstream answered, 0 when it was
	// not called or did not answer.
	UpstreamStatus int
}

// RequestLogFilter selects request log records; empty fields match all.
type RequestLogFilter struct {
	OrganizationID string
	AppID          string
	APIName        string
	// Status matches one status; StatusClass (2 for 2xx … 5 for 5xx)
	// matches a class. Zero matches all.
	Status      int
	StatusClass int
	// ErrorKey matches the registry entry of failed calls.
	ErrorKey string
	// From and To bound Time: From <= Time < To.
	From, To time.Time
	// After, when not nil, continues a listing: only records that come
	// after it, newest first (older Time, or the same Time and a smaller
	// ID), are returned.
	After *RequestLog
	// Limit caps the records returned: zero means 50, and more than
	// MaxRequestLogLimit means MaxRequestLogLimit.
	Limit int
}

// MaxRequestLogLimit is the most records one request log listing returns.
const MaxRequestLogLimit = 500

// RequestLogs stores the request log.
type RequestLogs interface {
	// AddRequestLogs writes the records (their ID ignored) in one
	// transaction: a batch is written whole or not at all. An empty batch
	// is a no-op. The records refer to nothing: they need no client, app
	// or API and outlive them.
	AddRequestLogs(ctx context.Context, records []RequestLog) error
	// ListRequestLogs returns the matching records newest first (by
	// Time, then ID), at most f.Limit of them.
	ListRequestLogs(ctx context.Context, f RequestLogFilter) ([]RequestLog, error)
	// RequestLogsByCorrelator returns the organisation's records with the
	// correlator, newest first, at most limit (at least 1, at most
	// MaxRequestLogLimit) of them. It is fast for an organisation's ID;
	// records of no organisation (organizationID "") are found, slowly.
	RequestLogsByCorrelator(ctx context.Context, organizationID, correlator string, limit int) ([]RequestLog, error)
	// DeleteRequestLogsBefore deletes at most limit records whose Time is
	// before t, oldest first, and returns how many it deleted; the caller
	// repeats while it deletes limit, so that no call holds the database
	// long.
	DeleteRequestLogsBefore(ctx context.Context, t time.Time, limit int) (int64, error)
}

// Quota periods of a QuotaCount.
const (
	QuotaDay   = "day"
	QuotaMonth = "month"
)

// QuotaCount is how many requests the in-process limiter admitted for one
// limiter key in one quota period, kept so that quotas outlive a restart.
type QuotaCount struct {
	// Key is the limiter key (one per subscription).
	Key string
	// Period is QuotaDay or QuotaMonth; Start is the period's first
	// instant (a UTC midnight).
	Period string
	Start  time.Time
	Count  int64
}

// QuotaCounts stores quota counters.
type QuotaCounts interface {
	// SaveQuotaCounts raises each count's stored value to its Count,
	// creating it as needed, all in one transaction. A larger stored value
	// stays: a count only grows within its period, so saving a stale or
	// repeated value changes nothing.
	SaveQuotaCounts(ctx context.Context, counts []QuotaCount) error
	// ListQuotaCounts returns the day counts of days starting at or after
	// day and the month counts of months starting at or after month,
	// ordered by key, period, start.
	ListQuotaCounts(ctx context.Context, day, month time.Time) ([]QuotaCount, error)
	// DeleteQuotaCountsBefore deletes the day counts of days starting
	// before day and the month counts of months starting before month.
	DeleteQuotaCountsBefore(ctx context.Context, day, month time.Time) error
}

// User is an end user (a subscriber) who signs in for three-legged flows.
type User struct {
	ID string
	// Username is the sign-in name, unique.
	Username string
	// PhoneNumber is the subscriber's line in E.164 ("+34600000001"),
	// unique when set.
	PhoneNumber string
	// PasswordHash is the argon2id hash in PHC string format.
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AuthCode is an authorization code (RFC 6749 §4.1), stored by the SHA-256
// of the code so a database leak reveals no usable code.
type AuthCode struct {
	// Hash is the hex SHA-256 of the code.
	Hash        string
	ClientID    string
	UserID      string
	RedirectURI string
	Scopes      []string
	Nonce       string
	// CodeChallenge and its method (S256) from the authorization request
	// (RFC 7636).
	CodeChallenge       string
	CodeChallengeMethod string
	AuthTime            time.Time
	ExpiresAt           time.Time
	// UsedAt is set by the first redemption; a second one is a replay.
	UsedAt time.Time
	// GrantID names everything issued from this code (access token jtis
	// and the refresh token family), so a replay can revoke it.
	GrantID   string
	CreatedAt time.Time
}

// RefreshToken is one refresh token of a family (RFC 6749 §6, RFC 9700
// §4.14): each use rotates it; reusing a rotated one revokes the family.
type RefreshToken struct {
	// Hash is the hex SHA-256 of the token.
	Hash     string
	FamilyID string
	ClientID string
	UserID   string
	Scopes   []string
	// AuthTime is when the user authenticated, carried to new ID tokens.
	AuthTime  time.Time
	ExpiresAt time.Time
	// RotatedAt is set when the token was exchanged for its successor.
	RotatedAt time.Time
	// RevokedAt is set when the token (or its family) was revoked.
	RevokedAt time.Time
	CreatedAt time.Time
}

// CIBA request statuses.
const (
	CIBAPending  = "pending"
	CIBAApproved = "approved"
	CIBADenied   = "denied"
	CIBAIssued   = "issued"
)

// CIBARequest is a backchannel authentication request (OpenID Connect
// CIBA, poll mode).
type CIBARequest struct {
	// ID is the auth_req_id.
	ID             string
	ClientID       string
	UserID         string
	Scopes         []string
	BindingMessage string
	Status         string
	// Interval is the minimum polling interval in seconds.
	Interval   int
	LastPollAt time.Time
	AuthTime   time.Time
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Users stores end users.
type Users interface {
	// CreateUser: ErrConflict when the username or phone number is taken.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	GetUserByPhone(ctx context.Context, phone string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	DeleteUser(ctx context.Context, id string) error
}

// Grants stores what the three-legged flows issue: authorization codes,
// refresh tokens and CIBA requests. Every read-modify-write is atomic, so
// two concurrent redemptions of one code or one refresh token cannot both
// succeed.
type Grants interface {
	CreateAuthCode(ctx context.Context, c *AuthCode) error
	// RedeemAuthCode marks the code used at now and returns it. A code
	// already used is returned with ErrConflict (and its UsedAt), so the
	// caller can revoke what it issued; an unknown code is ErrNotFound.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*AuthCode, error)

	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RotateRefreshToken marks the token with hash rotated at now and
	// stores next (same family) in one transaction. When the token was
	// already rotated or revoked it returns the stored token and
	// ErrConflict without storing next; unknown is ErrNotFound.
	RotateRefreshToken(ctx context.Context, hash string, now time.Time, next *RefreshToken) (*RefreshToken, error)
	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error)
	// RevokeRefreshFamily marks every token of the family revoked at now.
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error

	CreateCIBARequest(ctx context.Context, r *CIBARequest) error
	GetCIBARequest(ctx context.Context, id string) (*CIBARequest, error)
	// UpdateCIBARequest reads, calls update on a copy and writes, in one
	// transaction. update must not change ID, ClientID or UserID nor call
	// the store.
	UpdateCIBARequest(ctx context.Context, id string, update func(r *CIBARequest) error) (*CIBARequest, error)
	// ListPendingCIBARequests returns the user's requests still pending,
	// oldest first (the sandbox approval page).
	ListPendingCIBARequests(ctx context.Context, userID string) ([]*CIBARequest, error)

	// DeleteExpiredGrants removes codes, refresh tokens and CIBA requests
	// that expired before now.
	DeleteExpiredGrants(ctx context.Context, now time.Time) error
}

// Clients stores OAuth clients.
type Clients interface {
	// CreateClient: ErrConflict when the ID is taken or the client's app
	// already has a client for its environment; ErrNotFound when AppID
	// names no app.
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]*Client, error)
	// UpdateClient reads the client, calls update on a copy and writes the
	// result, all in one transaction. An error from update aborts it.
	// ErrNotFound and ErrConflict as CreateClient's for a new AppID or
	// Environment.
	UpdateClient(ctx context.Context, id string, update func(c *Client) error) (*Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// SigningKeys stores token-signing keys.
type SigningKeys interface {
	// RotateSigningKey stores k as the current key and retires the
	// previous current key at k.CreatedAt, in one transaction.
	RotateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// DeleteSigningKeysRetiredBefore prunes keys retired before t.
	DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error
}

// Tokens stores what stateless JWTs cannot carry: revocations and used
// assertion ids.
type Tokens interface {
	// RevokeToken records a revocation; revoking twice is not an error.
	RevokeToken(ctx context.Context, t *RevokedToken) error
	// ListRevokedTokensSince returns revocations recorded at or after
	// since, for caches on every node to catch up.
	ListRevokedTokensSince(ctx context.Context, since time.Time) ([]*RevokedToken, error)
	// UseAssertionID records a client assertion's jti until expiresAt and
	// returns ErrConflict if it was already recorded and has not expired.
	UseAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) error
	// DeleteExpired removes revocations, assertion ids and idempotency
	// keys that expired before now.
	DeleteExpired(ctx context.Context, now time.Time) error
}

// IdempotencyRecord is a request sent with an Idempotency-Key and, once it
// finished, its response (draft-ietf-httpapi-idempotency-key-header).
type IdempotencyRecord struct {
	// Key is the Idempotency-Key as the caller scopes it.
	Key string
	// Fingerprint identifies the request (method, path and body), so the
	// same key with another request can be refused.
	Fingerprint string
	// Status is 0 while the request is in progress, then the response's
	// status code.
	Status int
	// Header holds the response header fields to replay, in the caller's
	// encoding; Body the response body, sealed by the caller when it holds
	// secrets.
	Header    []byte
	Body      []byte
	CreatedAt time.Time
	// ExpiresAt is when the key may be used for another request.
	ExpiresAt time.Time
	// AbandonedBefore, read by BeginIdempotent only (not stored): a record
	// still in progress that was created before it is taken to be
	// abandoned (its request cannot still be running) and is replaced.
	// Zero replaces none.
	AbandonedBefore time.Time
}

// Idempotency stores idempotency keys, shared by every node.
type Idempotency interface {
	// BeginIdempotent stores r in progress (its Status is ignored and
	// stored as 0). When a record with r.Key exists and has not expired,
	// it returns that record with ErrConflict and changes nothing; an
	// expired one, or one in progress created before r.AbandonedBefore,
	// is replaced.
	BeginIdempotent(ctx context.Context, r *IdempotencyRecord) (*IdempotencyRecord, error)
	// FinishIdempotent stores the response of key's request (status not
	// 0); ErrNotFound when the key has no record.
	FinishIdempotent(ctx context.Context, key string, status int, header, body []byte) error
	// ReleaseIdempotent deletes key's record while it is in progress, so
	// the request may be sent again; a finished or missing record is left
	// alone.
	ReleaseIdempotent(ctx context.Context, key string) error
}

// Developer statuses.
const (
	DeveloperActive = "active"
	// DeveloperPending is a sign-up that waits for an operator's approval
	// (portal_approve_signups).
	DeveloperPending   = "pending"
	DeveloperSuspended = "suspended"
)

// Developer is a person who signs in to the developer portal. Developers
// are not Users: users are the subscribers of the three-legged flows, and
// the two never share a record, a table or a session.
type Developer struct {
	ID string
	// Email is the sign-in name, stored lower-cased; unique.
	Email string
	Name  string
	// PasswordHash is argon2id in PHC format.
	PasswordHash string
	// EmailVerifiedAt is when the developer proved the address; zero
	// until then.
	EmailVerifiedAt time.Time
	Status          string
	// TOTPSecretSealed is the second factor's secret, sealed by the caller
	// (never stored in clear); empty when the developer has none.
	TOTPSecretSealed []byte
	// SessionsNotBefore voids every session started before it (sign out
	// everywhere, password change).
	SessionsNotBefore time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Developers stores developer accounts.
type Developers interface {
	// CreateDeveloper: ErrConflict when the e-mail address is taken.
	CreateDeveloper(ctx context.Context, d *Developer) error
	GetDeveloper(ctx context.Context, id string) (*Developer, error)
	// GetDeveloperByEmail finds the address whatever its case (the store
	// lower-cases e-mail addresses it writes and looks up).
	GetDeveloperByEmail(ctx context.Context, email string) (*Developer, error)
	// ListDevelopers returns every developer ordered by e-mail address.
	ListDevelopers(ctx context.Context) ([]*Developer, error)
	// UpdateDeveloper reads, calls update on a copy and writes, in one
	// transaction; ErrConflict when the new e-mail address is taken.
	// update must not change ID nor call the store.
	UpdateDeveloper(ctx context.Context, id string, update func(d *Developer) error) (*Developer, error)
	// DeleteDeveloper deletes the developer and their memberships.
	DeleteDeveloper(ctx context.Context, id string) error
}

// Organization roles, from most to least powerful.
const (
	RoleOwner     = "owner"
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
)

// Organization is a team of developers; apps, subscriptions and usage
// belong to it.
type Organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Membership is a developer's role in an organisation.
type Membership struct {
	OrganizationID string
	DeveloperID    string
	Role           string
	CreatedAt      time.Time
}

// Invitation asks whoever controls Email to join an organisation.
type Invitation struct {
	ID             string
	OrganizationID string
	// Email is lower-cased.
	Email string
	Role  string
	// InvitedBy is the developer who sent it.
	InvitedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Organizations stores organisations, their members and invitations.
type Organizations interface {
	// CreateOrganization stores o with owner as its first member (role
	// owner), in one transaction; ErrNotFound when owner does not exist.
	CreateOrganization(ctx context.Context, o *Organization, owner string) error
	GetOrganization(ctx context.Context, id string) (*Organization, error)
	// ListOrganizations returns every organisation ordered by name then ID.
	ListOrganizations(ctx context.Context) ([]*Organization, error)
	// UpdateOrganization reads, calls update on a copy and writes, in one
	// transaction. update must not change ID nor call the store.
	UpdateOrganization(ctx context.Context, id string, update func(o *Organization) error) (*Organization, error)
	// DeleteOrganization deletes it with its memberships, invitations and
	// apps, and the apps' clients (with their subscriptions and grants).
	DeleteOrganization(ctx context.Context, id string) error

	// AddMember: ErrConflict when the developer is already a member;
	// ErrNotFound when the organisation or the developer does not exist.
	AddMember(ctx context.Context, m *Membership) error
	GetMembership(ctx context.Context, organizationID, developerID string) (*Membership, error)
	// SetMemberRole changes a member's role; ErrNotFound when not a member.
	SetMemberRole(ctx context.Context, organizationID, developerID, role string) error
	// RemoveMember: ErrNotFound when not a member.
	RemoveMember(ctx context.Context, organizationID, developerID string) error
	// ListMembers returns the organisation's members, oldest first.
	ListMembers(ctx context.Context, organizationID string) ([]*Membership, error)
	// ListMemberships returns the developer's memberships, oldest first.
	ListMemberships(ctx context.Context, developerID string) ([]*Membership, error)

	// CreateInvitation: ErrNotFound when the organisation does not exist;
	// ErrConflict when an invitation for the same e-mail address to the
	// same organisation exists.
	CreateInvitation(ctx context.Context, inv *Invitation) error
	GetInvitation(ctx context.Context, id string) (*Invitation, error)
	// ListInvitations returns the organisation's invitations, oldest first.
	ListInvitations(ctx context.Context, organizationID string) ([]*Invitation, error)
	DeleteInvitation(ctx context.Context, id string) error
	// AcceptInvitation deletes the invitation and adds the developer as a
	// member with its role, in one transaction. ErrNotFound when the
	// invitation no longer exists (already used or withdrawn); ErrConflict
	// when the developer is already a member (the invitation is kept).
	AcceptInvitation(ctx context.Context, id, developerID string, now time.Time) (*Membership, error)
}

// App is an organisation's application. Its credentials are OAuth clients
// (Client.AppID), at most one per environment.
type App struct {
	ID             string
	OrganizationID string
	Name           string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Apps stores apps.
type Apps interface {
	// CreateApp: ErrNotFound when the organisation does not exist.
	CreateApp(ctx context.Context, a *App) error
	GetApp(ctx context.Context, id string) (*App, error)
	// ListApps returns the organisation's apps, oldest first.
	ListApps(ctx context.Context, organizationID string) ([]*App, error)
	// UpdateApp reads, calls update on a copy and writes, in one
	// transaction. update must not change ID or OrganizationID nor call
	// the store.
	UpdateApp(ctx context.Context, id string, update func(a *App) error) (*App, error)
	// DeleteApp deletes the app and its clients (with their
	// subscriptions and grants).
	DeleteApp(ctx context.Context, id string) error
	// ListAppClients returns the app's clients ordered by environment.
	ListAppClients(ctx context.Context, appID string) ([]*Client, error)
	// RecordClientUse sets LastUsedAt of each client to at (zero: the
	// current time), unless it already holds a later time; unknown ids
	// are ignored.
	RecordClientUse(ctx context.Context, clientIDs []string, at time.Time) error
}

// Store is the whole storage contract.
type Store interface {
	Clients
	Users
	Grants
	APIs
	Plans
	Subscriptions
	Orders
	Usage
	RequestLogs
	QuotaCounts
	SigningKeys
	Tokens
	Idempotency
	Developers
	Organizations
	Apps
	Incidents
	Webhooks
	AuditLog
	// Ping reports whether the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Incident statuses, in the order an incident usually passes them.
const (
	IncidentInvestigating = "investigating"
	IncidentIdentified    = "identified"
	IncidentMonitoring    = "monitoring"
	IncidentResolved      = "resolved"
)

// Incident impacts: what an open incident does to its API's status.
const (
	ImpactDegraded    = "degraded"
	ImpactOutage      = "outage"
	ImpactMaintenance = "maintenance"
)

// Incident is what the operator tells developers about a failure of an API
// (or of the platform, APIName ""), on the public status page.
type Incident struct {
	ID      string
	APIName string
	Title   string
	Impact  string
	// Status is the latest update's; ResolvedAt is set once resolved.
	Status     string
	Updates    []IncidentUpdate // oldest first
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ResolvedAt time.Time
}

// IncidentUpdate is one message of an incident.
type IncidentUpdate struct {
	At      time.Time `json:"at"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
}

// Incidents stores the operator's incidents.
type Incidents interface {
	// CreateIncident stores a new incident (its ID set by the caller).
	CreateIncident(ctx context.Context, in *Incident) error
	// GetIncident returns one incident, or ErrNotFound.
	GetIncident(ctx context.Context, id string) (*Incident, error)
	// UpdateIncident changes an incident under a write lock, or returns
	// ErrNotFound.
	UpdateIncident(ctx context.Context, id string, change func(*Incident) error) (*Incident, error)
	// ListIncidents returns the incidents not resolved and those resolved
	// at or after since, newest first.
	ListIncidents(ctx context.Context, since time.Time) ([]*Incident, error)
}

// Webhook delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Webhook is an organisation's endpoint for event notifications.
type Webhook struct {
	ID             string
	OrganizationID string
	URL            string
	// SecretSealed is the signing secret, sealed with the system secret.
	SecretSealed []byte
	// Events are the event types sent to it; empty means all.
	Events    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WebhookDelivery is one event sent (or to send) to one webhook.
type WebhookDelivery struct {
	ID             string
	WebhookID      string
	OrganizationID string
	// EventID is the event's id, the same in every attempt and for every
	// endpoint (receivers deduplicate on it); EventType its type.
	EventID   string
	EventType string
	Payload   []byte
	Status    string
	Attempts  int
	// NextAttemptAt is when a pending delivery is due (or its lease ends).
	NextAttemptAt time.Time
	// LastStatus and LastError describe the last attempt.
	LastStatus int
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Webhooks stores webhook endpoints and their deliveries.
type Webhooks interface {
	CreateWebhook(ctx context.Context, w *Webhook) error
	GetWebhook(ctx context.Context, id string) (*Webhook, error)
	// ListWebhooks returns the organisation's webhooks, oldest first.
	ListWebhooks(ctx context.Context, organizationID string) ([]*Webhook, error)
	// DeleteWebhook deletes a webhook and its deliveries, or returns
	// ErrNotFound.
	DeleteWebhook(ctx context.Context, id string) error
	// AddDeliveries stores deliveries, all or none.
	AddDeliveries(ctx context.Context, ds []*WebhookDelivery) error
	// ClaimDeliveries takes up to limit pending deliveries due at now and
	// moves their NextAttemptAt to lease, atomically: two nodes never
	// claim one delivery while its lease runs. Oldest due first.
	ClaimDeliveries(ctx context.Context, now, lease time.Time, limit int) ([]*WebhookDelivery, error)
	// UpdateDelivery changes a delivery under a write lock, or returns
	// ErrNotFound.
	UpdateDelivery(ctx context.Context, id string, change func(*WebhookDelivery) error) (*WebhookDelivery, error)
	// ListDeliveries returns the organisation's latest deliveries, newest
	// first, at most limit.
	ListDeliveries(ctx context.Context, organizationID string, limit int) ([]*WebhookDelivery, error)
}

// Audit actors.
const (
	ActorOperator  = "operator"
	ActorDeveloper = "developer"
)

// AuditEntry is one action of an operator (admin API) or a developer
// (portal form): who, what, when, from which address, and how it ended.
type AuditEntry struct {
	ID        int64
	At        time.Time
	ActorKind string
	// ActorID is the developer's id; "" for the operator (one admin
	// token) and for a visitor not signed in (sign-up, sign-in).
	ActorID string
	// Action is the route ("POST /admin/clients"); Target the path acted
	// on.
	Action, Target string
	Address        string
	Status         int
	Correlator     string
}

// AuditFilter selects audit entries; empty fields match all.
type AuditFilter struct {
	ActorKind, ActorID string
	// Before pages: entries with a smaller ID only (0: from the newest).
	Before int64
	Limit  int
}

// AuditLog keeps the audit log.
type AuditLog interface {
	AddAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns matching entries newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// RetryUntilDone calls write until it succeeds or ctx is done, pausing
// 50 ms after the first failure and twice as long after each next, up to
// a second: how a recorder writes what is pending when the process stops.
// It returns nil, or the last failure joined with ctx's error.
func RetryUntilDone(ctx context.Context, write func(context.Context) error) error {
	err := write(ctx)
	for wait := 50 * time.Millisecond; err != nil; wait = min(2*wait, time.Second) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		err = write(ctx)
	}
	return nil
}
