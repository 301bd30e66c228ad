package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SubjectHeader is the request header in which the gateway passes the
// phone number of the end user a three-legged token was issued for, as
// "+<E.164 digits>". It is absent for two-legged tokens.
const SubjectHeader = "X-Gatehouse-Subject"

// now is the rules tables' clock: their times are written as seen at this
// instant (a SIM change "30 minutes ago" is 09:30). Answers move them by
// the time between it and the request (relative), so that a swap 30
// minutes old is 30 minutes old whenever it is asked about.
var now = time.Date(2026, time.January, 15, 10, 0, 0, 0, time.UTC)

// answerTimes are the members of answers that hold an instant.
var answerTimes = regexp.MustCompile(`"(latestSimChange|lastLocationTime)":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z)"`)

// relative moves the instants of an answer by shift.
func relative(b []byte, shift time.Duration) []byte {
	if shift == 0 {
		return b
	}
	return answerTimes.ReplaceAllFunc(b, func(m []byte) []byte {
		parts := answerTimes.FindSubmatch(m)
		t, err := time.Parse(time.RFC3339, string(parts[2]))
		if err != nil {
			return m
		}
		return []byte(`"` + string(parts[1]) + `":"` + t.Add(shift).UTC().Truncate(time.Second).Format(time.RFC3339) + `"`)
	})
}

// maxBody bounds the request bodies the sandbox reads; the sample APIs'
// bodies are a few hundred bytes.
const maxBody = 64 << 10

var (
	phonePattern      = regexp.MustCompile(`^\+[1-9][0-9]{4,14}$`)
	hashPattern       = regexp.MustCompile(`^[a-fA-F0-9]{64}$`)
	correlatorPattern = regexp.MustCompile(`^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$`)
)

// apiError is a CAMARA ErrorInfo answer.
type apiError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func invalidArgument(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "INVALID_ARGUMENT", msg}
}

func outOfRange(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "OUT_OF_RANGE", msg}
}

// operation answers one request: a body for 200, or an error. subject is
// the three-legged end user's phone number, "" for a two-legged token.
// rules is the operation's lookup rows of the rules table (rules.go), nil
// for an operation that does not answer by digit.
type operation func(r *http.Request, subject string, rules *digitRules) (any, *apiError)

// routes is every operation the sandbox serves, by method and full path.
// byDigit marks the operations that answer from lookup rows of their
// API's rules table.
var routes = []struct {
	method, path string
	op           operation
	byDigit      bool
}{
	{http.MethodPost, "/sim-swap/v2/check", simSwapCheck, true},
	{http.MethodPost, "/sim-swap/v2/retrieve-date", simSwapRetrieveDate, true},
	{http.MethodPost, "/number-verification/v2/verify", numberVerify, false},
	{http.MethodGet, "/number-verification/v2/device-phone-number", devicePhoneNumber, false},
	{http.MethodPost, "/location-verification/v3/verify", locationVerify, true},
}

// Handler returns the sandbox upstream. It needs no configuration, keeps no
// state and answers the same request the same way every time, as the
// rules tables say ([Rules]).
func Handler() http.Handler { return HandlerAt(time.Now) }

// HandlerAt is Handler with the clock the answers' times are relative to;
// a clock that reads the rules' own instant (2026-01-15T10:00:00Z) gives
// the tables' times unchanged.
func HandlerAt(clock func() time.Time) http.Handler {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range routes {
		key := rt.method + " " + rt.path
		mux.Handle(key, serve(rt.op, lookups[key], clock))
		allow[rt.path] = append(allow[rt.path], rt.method)
	}
	for path, methods := range allow {
		mux.Handle(path, methodNotAllowed(strings.Join(methods, ", ")))
	}
	mux.Handle("/", serve(func(*http.Request, string, *digitRules) (any, *apiError) {
		return nil, &apiError{http.StatusNotFound, "NOT_FOUND", "The sandbox serves no operation at this path."}
	}, nil, nil))
	return mux
}

func methodNotAllowed(allow string) http.Handler {
	h := serve(func(*http.Request, string, *digitRules) (any, *apiError) {
		return nil, &apiError{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "This path accepts " + allow + " only."}
	}, nil, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.ServeHTTP(w, r)
	})
}

// serve adapts an operation to HTTP: correlator, subject, rendering, and a
// 500 INTERNAL instead of a crash should the operation panic.
func serve(op operation, rules *digitRules, clock func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeJSON(w, http.StatusInternalServerError, &apiError{http.StatusInternalServerError, "INTERNAL", "The sandbox failed to answer."}, 0)
			}
		}()
		// The gateway owns the correlator (it echoes or generates one);
		// the sandbox echoes what it gets when the definitions allow it
		// on a response, and never fails a request over it.
		if c := r.Header.Get("x-correlator"); c != "" && correlatorPattern.MatchString(c) {
			w.Header().Set("x-correlator", c)
		}
		body, err := op(r, subjectOf(r), rules)
		if err != nil {
			writeJSON(w, err.Status, err, 0)
			return
		}
		var shift time.Duration
		if clock != nil {
			shift = clock().Sub(now)
		}
		writeJSON(w, http.StatusOK, body, shift)
	})
}

// subjectOf returns the three-legged end user's phone number from the
// gateway's header, accepting the "tel:+…" form too, or "" when there is
// none or it is not a phone number.
func subjectOf(r *http.Request) string {
	s := strings.TrimPrefix(strings.TrimSpace(r.Header.Get(SubjectHeader)), "tel:")
	if !phonePattern.MatchString(s) {
		return ""
	}
	return s
}

// writeJSON writes v, its instants moved by shift (relative).
func writeJSON(w http.ResponseWriter, status int, v any, shift time.Duration) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(&apiError{status, "INTERNAL", "The sandbox failed to encode its answer."})
	}
	b = relative(b, shift)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// object is a JSON object read from a request, member by exact name
// (encoding/json would also match "PhoneNumber" to a phoneNumber field).
type object map[string]json.RawMessage

// readObject reads the request body, which must be one JSON object.
func readObject(r *http.Request) (object, *apiError) {
	if r.Body == nil {
		return nil, invalidArgument("The request body must be a JSON object.")
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, invalidArgument("The request body could not be read.")
	}
	if len(raw) > maxBody {
		return nil, invalidArgument("The request body is larger than the sandbox accepts (64 KiB).")
	}
	return parseObject(raw, "The request body")
}

func parseObject(raw []byte, what string) (object, *apiError) {
	raw = bytes.TrimSpace(raw)
	var o object
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
		return nil, invalidArgument(what + " must be a JSON object.")
	}
	return o, nil
}

// str returns member key as a string; ok is false when it is absent.
func (o object) str(key string) (s string, ok bool, err *apiError) {
	raw, ok := o[key]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", true, invalidArgument(key + " must be a string.")
	}
	return s, true, nil
}

// number returns member key as a finite number; ok is false when it is
// absent.
func (o object) number(key string) (f float64, ok bool, err *apiError) {
	raw, ok := o[key]
	if !ok {
		return 0, false, nil
	}
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, true, invalidArgument(key + " must be a number.")
	}
	f, perr := strconv.ParseFloat(string(raw), 64)
	if (perr != nil && !errors.Is(perr, strconv.ErrRange)) || math.IsInf(f, 0) {
		return 0, true, invalidArgument(key + " must be a number.")
	}
	return f, true, nil
}

// integer returns member key as an integer (1 and 1.0 alike); ok is false
// when it is absent.
func (o object) integer(key string) (n int64, ok bool, err *apiError) {
	f, ok, err := o.number(key)
	if !ok || err != nil {
		return 0, ok, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, true, invalidArgument(key + " must be an integer.")
	}
	return int64(f), true, nil
}

// obj returns member key as an object; ok is false when it is absent.
func (o object) obj(key string) (v object, ok bool, err *apiError) {
	raw, ok := o[key]
	if !ok {
		return nil, false, nil
	}
	v, err = parseObject(raw, key)
	return v, true, err
}

// phone returns member key as an E.164 phone number; ok is false when it
// is absent.
func (o object) phone(key string) (string, bool, *apiError) {
	s, ok, err := o.str(key)
	if ok && err == nil && !phonePattern.MatchString(s) {
		err = invalidArgument(key + ` must be an E.164 number with a leading "+", matching ^\+[1-9][0-9]{4,14}$.`)
	}
	return s, ok, err
}

// lastDigit returns the last digit of a phone number that matched
// phonePattern.
func lastDigit(phone string) int { return int(phone[len(phone)-1] - '0') }

// Errors the sample APIs share.
var (
	errMissingIdentifier = &apiError{http.StatusUnprocessableEntity, "MISSING_IDENTIFIER",
		"The device cannot be identified: send its phone number in the body with a two-legged token, or use a three-legged token."}
	errUnnecessaryIdentifier = &apiError{http.StatusUnprocessableEntity, "UNNECESSARY_IDENTIFIER",
		"The device is already identified by the three-legged access token; do not name it in the body as well."}
)

// identify picks the subject line: from the body (two-legged) or the
// token (three-legged), exactly one of them.
func identify(body string, inBody bool, subject string) (string, *apiError) {
	switch {
	case inBody && subject != "":
		return "", errUnnecessaryIdentifier
	case inBody:
		return body, nil
	case subject != "":
		return subject, nil
	}
	return "", errMissingIdentifier
}
