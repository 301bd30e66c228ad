package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// Idempotency keys on admin POSTs (draft-ietf-httpapi-idempotency-key-header).
//
// A POST sent with `Idempotency-Key: K` is recorded in the store under K
// with a fingerprint of its method, path, Content-Type and body before it
// runs, and its response (status, a few header fields, the body sealed with
// the system secret: a created client's secret is in it) once it ran. The
// same key then means, on any node, for 24 hours:
//   - the same request, finished: the stored response, replayed, with
//     `Idempotent-Replayed: true`;
//   - the same request, still running: 409 conflict /
//     idempotency_key_in_progress with Retry-After;
//   - another request: 422 unprocessable_entity / idempotency_key_reused.
//
// A key left in progress longer than idempotencyLease (its first attempt
// died, or a frozen database applied the key's insert after the node gave
// up) is taken over by the next retry, which runs the request again, safely
// for the reason below.
//
// The request runs detached from the caller's connection: a caller that
// gives up does not cut it short, so its outcome is recorded and replayed
// to the retry. Each store call stays bounded by store_timeout.
//
// A 5xx response is not kept: the key is released, so the retry runs the
// request again. That is safe even when the first attempt's write was
// committed without its answer arriving (a timed-out commit): every create
// stays keyed by something the retry repeats. Plans, APIs and subscriptions
// have natural keys (name, base path, client and API), and a client created
// with an Idempotency-Key gets an id derived from the key and the request,
// so the retry of a create stored after all answers 409 already_exists
// naming it, never a second record.

// idempotencyTTL is how long a key keeps its request and response.
const idempotencyTTL = 24 * time.Hour

// replayedHeaders are the response fields stored and replayed.
var replayedHeaders = []string{"Content-Type", "Cache-Control", "Location", "ETag"}

type idempotencyKey struct{}

// idempotencyOf returns the key and fingerprint of the request being run
// under an Idempotency-Key, if any.
func idempotencyOf(ctx context.Context) (key, fingerprint string, ok bool) {
	v, ok := ctx.Value(idempotencyKey{}).([2]string)
	return v[0], v[1], ok
}

// idempotentClientID is the id of the client a create sent with an
// Idempotency-Key makes: the same for the same key and request, so a retry
// cannot make a second client. "" without a key.
func idempotentClientID(ctx context.Context) string {
	key, fp, ok := idempotencyOf(ctx)
	if !ok {
		return ""
	}
	sum := sha256.Sum256([]byte("gatehouse client id\x00" + key + "\x00" + fp))
	return "gh_" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// idempotencyLease is how long a key stays in progress before a retry may
// take it over: far longer than a request can run (each store call ends
// within StoreTimeout), for a first attempt whose key was stored but whose
// end was never recorded (the node died, or a frozen database applied the
// key's insert after the node had given up on it).
func (s *Server) idempotencyLease() time.Duration {
	return max(5*time.Second, 10*s.deps.StoreTimeout)
}

// idempotencyBox seals stored response bodies.
func (s *Server) idempotencyBox() seal.Box {
	return seal.Box{Secret: s.deps.Secret, Purpose: "gatehouse idempotent admin responses v1"}
}

// idempotent wraps an admin POST handler with Idempotency-Key handling;
// requests without the header run as they are.
func (a *adminAPI) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st := a.s.deps.Idempotency
		values := r.Header.Values("Idempotency-Key")
		if st == nil || len(values) == 0 {
			next(w, r)
			return
		}
		key, ok := parseIdempotencyKey(values)
		if !ok {
			a.fail(w, r, problem.New(problem.BadRequestInvalidIdempotencyKey,
				"Send one Idempotency-Key header of 1 to 255 printable ASCII characters, such as a UUID."))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
		if err != nil {
			a.fail(w, r, problem.Newf(problem.BadRequestMalformedRequest, "The body could not be read: %v.", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h := sha256.New()
		for _, part := range []string{r.Method, r.URL.Path, r.Header.Get("Content-Type")} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
		h.Write(body)
		fp := hex.EncodeToString(h.Sum(nil))

		ctx := context.WithoutCancel(r.Context())
		stored := "admin:" + key
		now := time.Now()
		old, err := st.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: stored, Fingerprint: fp,
			CreatedAt: now, ExpiresAt: now.Add(idempotencyTTL), AbandonedBefore: now.Add(-a.s.idempotencyLease())})
		switch {
		case errors.Is(err, store.ErrConflict) && old != nil:
			a.replay(w, r, key, stored, fp, old)
			return
		case err != nil:
			a.fail(w, r, problem.FromStore(err, "idempotency key", key))
			return
		}

		rec := &responseRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(ctx, idempotencyKey{}, [2]string{key, fp}))
		next(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if status >= 500 {
			a.release(ctx, stored)
			return
		}
		header := http.Header{}
		for _, k := range replayedHeaders {
			if v := rec.Header().Values(k); len(v) > 0 {
				header[k] = v
			}
		}
		hb, _ := json.Marshal(header)
		sealed, err := a.s.idempotencyBox().Seal(stored, rec.body.Bytes())
		if err == nil {
			err = st.FinishIdempotent(ctx, stored, status, hb, sealed)
		}
		if err != nil {
			a.s.deps.Logger.Warn("storing an idempotent response failed; the key is released", "err", err)
			a.release(ctx, stored)
		}
	}
}

// release frees a key whose request is not to be replayed.
func (a *adminAPI) release(ctx context.Context, stored string) {
	if err := a.s.deps.Idempotency.ReleaseIdempotent(ctx, stored); err != nil {
		a.s.deps.Logger.Warn("releasing an idempotency key failed; retries get 409 until it expires", "err", err)
	}
}

// replay answers a request whose key is already recorded.
func (a *adminAPI) replay(w http.ResponseWriter, r *http.Request, key, stored, fp string, old *store.IdempotencyRecord) {
	switch {
	case old.Fingerprint != fp:
		a.fail(w, r, problem.Newf(problem.UnprocessableEntityIdempotencyKeyReused,
			"The Idempotency-Key %q was used for a different request at %s; send a new key with a new request.",
			key, old.CreatedAt.UTC().Format(time.RFC3339)))
		return
	case old.Status == 0:
		a.fail(w, r, problem.Newf(problem.ConflictIdempotencyKeyInProgress,
			"The request sent with Idempotency-Key %q at %s is still being processed; retry it after the time in Retry-After.",
			key, old.CreatedAt.UTC().Format(time.RFC3339)).WithRetryAfter(time.Second))
		return
	}
	body, err := a.s.idempotencyBox().Open(stored, old.Body)
	if err != nil {
		a.fail(w, r, problem.Internal(err))
		return
	}
	var header http.Header
	_ = json.Unmarshal(old.Header, &header)
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(old.Status)
	_, _ = w.Write(body)
}

// parseIdempotencyKey accepts one header value, an RFC 8941 string
// ("…", as the draft writes it) or the bare token many clients send: 1 to
// 255 printable ASCII characters.
func parseIdempotencyKey(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	k := strings.TrimSpace(values[0])
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" || len(k) > 255 {
		return "", false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e || k[i] == '"' || k[i] == '\\' {
			return "", false
		}
	}
	return k, true
}

// responseRecorder passes a response through and keeps its status and
// body.
type responseRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *responseRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}
