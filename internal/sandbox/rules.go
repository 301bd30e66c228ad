package sandbox

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// RULES.md and the definitions' x-gatehouse-sandbox-rules are made from the
// rules tables; TestGenerated fails when they differ, and with -update
// rewrites them.
//
//go:generate go test -run ^TestGenerated$ . -args -update

// ruleFiles holds the rules tables, one per API (rules/<name>.json): the one
// place the sandbox's behaviour is written down. The handler answers their
// lookup rows from them, and rules_test.go runs every row against [Handler].
//
//go:embed rules/*.json
var ruleFiles embed.FS

// Rule is one row of an API's sandbox rules: a condition on the request, an
// example request that meets it, and the answer the sandbox gives that
// example. The example is meant as a try-it preset and a test number; a
// test sends every row's example to [Handler] and expects exactly the
// row's answer.
type Rule struct {
	// Method and Path name the operation, Path as the API's document
	// writes it: "POST" and "/check". The sandbox serves it at the API's
	// BasePath followed by Path.
	Method string `json:"method"`
	Path   string `json:"path"`

	// When is the condition in words, for people.
	When string `json:"when"`
	// LastDigits is the condition on the last digit of the line the
	// request is about (the phone number in the body, or the three-legged
	// subject), empty when the digit does not matter. A row with
	// LastDigits and no Shape is a lookup: the sandbox answers from it.
	LastDigits []int `json:"lastDigits,omitempty"`
	// Shape names a condition on the request beyond the digit, such as
	// "missing-identifier" or "maxAge-out-of-range"; the sandbox's code
	// decides these rows. A row with both holds when both do.
	Shape string `json:"shape,omitempty"`

	// PhoneNumber is the test number the example is about: the line
	// whose last digit decides, or the number the body names or hashes;
	// "" when the example names none.
	PhoneNumber string `json:"phoneNumber,omitempty"`
	// Subject is the end user of a three-legged token, as the gateway
	// passes it in [SubjectHeader]; "" means a two-legged token (client
	// credentials). Through the gateway, a row with a Subject needs a
	// token from that user's sign-in.
	Subject string `json:"subject,omitempty"`
	// Body is the example's JSON request body; nil when the operation
	// takes none.
	Body json.RawMessage `json:"body,omitempty"`

	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Response is the exact JSON body of a 200 answer; nil for an error.
	Response json.RawMessage `json:"response,omitempty"`
	// Code is the CAMARA ErrorInfo code of an error answer; "" for 200.
	Code string `json:"code,omitempty"`
	// Message, when not empty, is the ErrorInfo message that goes with
	// Code. Lookup rows always have one (the sandbox sends it); where
	// the sandbox's code decides, the code words the message, and
	// through the gateway the same code may come in the gateway's words.
	Message string `json:"message,omitempty"`
}

// isLookup reports whether the sandbox answers the row from the table.
func (r *Rule) isLookup() bool { return len(r.LastDigits) > 0 && r.Shape == "" }

// clone returns a copy of r that shares no memory with it.
func (r *Rule) clone() Rule {
	c := *r
	c.LastDigits = slices.Clone(r.LastDigits)
	c.Body = bytes.Clone(r.Body)
	c.Response = bytes.Clone(r.Response)
	return c
}

// Rules returns the sandbox rules of the API named api (a [Definition]'s
// Name, e.g. "sim-swap"), in the table's order. It returns nil for an API
// the sandbox does not serve. Each call returns fresh copies.
func Rules(api string) []Rule {
	rows, ok := tables[api]
	if !ok {
		return nil
	}
	out := make([]Rule, len(rows))
	for i := range rows {
		out[i] = rows[i].clone()
	}
	return out
}

// digitRules is the lookup rows of one operation: the row for each last
// digit of the line.
type digitRules [10]*Rule

// row returns the row for line, a phone number that matched phonePattern.
func (d *digitRules) row(line string) *Rule { return d[lastDigit(line)] }

// answer returns the answer of a lookup row, as an operation returns it.
func (r *Rule) answer() (any, *apiError) {
	if r.Status != http.StatusOK {
		return nil, &apiError{r.Status, r.Code, r.Message}
	}
	return r.Response, nil
}

// tables holds every API's rules by name, and lookups every lookup
// operation's rows by "METHOD /full/path". Both are read-only.
var tables, lookups = mustLoadRules()

// mustLoadRules reads and checks the embedded tables. They are embedded at
// build time, so a bad one is a build mistake that every test of the
// package reports (as this panic), never a runtime condition.
func mustLoadRules() (map[string][]Rule, map[string]*digitRules) {
	tables := map[string][]Rule{}
	lookups := map[string]*digitRules{}
	for _, d := range definitions {
		rows, err := loadRules(d.name, d.basePath, lookups)
		if err != nil {
			panic("sandbox: rules/" + d.name + ".json: " + err.Error())
		}
		tables[d.name] = rows
	}
	for _, rt := range routes {
		key := rt.method + " " + rt.path
		d, ok := lookups[key]
		if ok != rt.byDigit {
			panic(fmt.Sprintf("sandbox: %s: the rules must have lookup rows exactly when the handler answers by digit (%v)", key, rt.byDigit))
		}
		for digit := 0; ok && digit < len(d); digit++ {
			if d[digit] == nil {
				panic(fmt.Sprintf("sandbox: %s: no lookup row for last digit %d", key, digit))
			}
		}
	}
	return tables, lookups
}

// loadRules parses one API's table and adds its lookup rows to lookups.
func loadRules(name, basePath string, lookups map[string]*digitRules) ([]Rule, error) {
	raw, err := ruleFiles.ReadFile("rules/" + name + ".json")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var rows []Rule
	if err := dec.Decode(&rows); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("text after the table")
	}
	served := map[string]bool{}
	for _, rt := range routes {
		served[rt.method+" "+rt.path] = true
	}
	for i := range rows {
		r := &rows[i]
		key := r.Method + " " + basePath + r.Path
		where := fmt.Sprintf("row %d (%s %s, %q)", i+1, r.Method, r.Path, r.When)
		if !served[key] {
			return nil, fmt.Errorf("%s: the sandbox serves no such operation", where)
		}
		if r.When == "" || (len(r.LastDigits) == 0 && r.Shape == "") {
			return nil, fmt.Errorf("%s: a row needs when, and lastDigits or shape", where)
		}
		switch {
		case r.Status == http.StatusOK && (len(r.Response) == 0 || r.Code != "" || r.Message != ""):
			return nil, fmt.Errorf("%s: a 200 row needs a response and no code or message", where)
		case r.Status != http.StatusOK && (r.Status < 400 || r.Status > 599 || r.Code == "" || len(r.Response) != 0):
			return nil, fmt.Errorf("%s: an error row needs a 4xx or 5xx status, a code and no response", where)
		}
		// Compact what the sandbox sends, so that its answers are the
		// same bytes whatever the file's layout.
		for _, m := range []*json.RawMessage{&r.Body, &r.Response} {
			if len(*m) > 0 {
				var b bytes.Buffer
				if err := json.Compact(&b, *m); err != nil {
					return nil, fmt.Errorf("%s: %v", where, err)
				}
				*m = b.Bytes()
			}
		}
		if !r.isLookup() {
			continue
		}
		if r.Status != http.StatusOK && r.Message == "" {
			return nil, fmt.Errorf("%s: a lookup row's error needs the message the sandbox sends", where)
		}
		d := lookups[key]
		if d == nil {
			d = new(digitRules)
			lookups[key] = d
		}
		for _, digit := range r.LastDigits {
			if digit < 0 || digit > 9 || d[digit] != nil {
				return nil, fmt.Errorf("%s: digit %d is not 0 to 9 or has another row", where, digit)
			}
			d[digit] = r
		}
	}
	return rows, nil
}
