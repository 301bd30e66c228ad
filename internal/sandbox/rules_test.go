package sandbox

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ruleCalls turns every row of every rules table into calls: the row's
// example, and for a row with LastDigits one call per digit, the example's
// phone number changed to end in it.
func ruleCalls(t testing.TB) []call {
	t.Helper()
	var cs []call
	for _, d := range Definitions() {
		for i, r := range Rules(d.Name) {
			name := fmt.Sprintf("%s row %d %s %s", d.Name, i+1, r.Method, r.Path)
			numbers := []string{r.PhoneNumber}
			if len(r.LastDigits) > 0 {
				if r.PhoneNumber == "" {
					t.Fatalf("%s: a row with lastDigits needs a phoneNumber", name)
				}
				numbers = nil
				for _, digit := range r.LastDigits {
					numbers = append(numbers, r.PhoneNumber[:len(r.PhoneNumber)-1]+strconv.Itoa(digit))
				}
			}
			for _, n := range numbers {
				swap := func(s string) string {
					if r.PhoneNumber == "" {
						return s
					}
					return strings.ReplaceAll(s, r.PhoneNumber, n)
				}
				c := call{
					name:    name,
					method:  r.Method,
					path:    d.BasePath + r.Path,
					subject: swap(r.Subject),
					body:    swap(string(r.Body)),
					status:  r.Status,
					want:    swap(string(r.Response)),
					code:    r.Code,
					message: r.Message,
					// A 400 row's example may break the definition, as
					// the gateway's validation would refuse it.
					rejected: r.Status == http.StatusBadRequest,
				}
				if len(numbers) > 1 {
					c.name += " " + n
				}
				cs = append(cs, c)
			}
		}
	}
	return cs
}

// TestEveryRule sends every row of the rules tables (every digit of a row
// with LastDigits) to the handler over HTTP and wants exactly the row's
// answer, and that both follow the definitions; so the tables that the
// portal shows cannot drift from what the sandbox does.
func TestEveryRule(t *testing.T) {
	cs := ruleCalls(t)
	if len(cs) < 50 {
		t.Fatalf("only %d calls from the rules tables; the tables or ruleCalls are broken", len(cs))
	}
	runCalls(t, cs)
}

// digitWords writes digits as the rows' words do: "1, 5, 7 or 9".
func digitWords(digits []int) string {
	s := make([]string, len(digits))
	for i, d := range digits {
		s[i] = strconv.Itoa(d)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// TestRulesTables checks what the loader cannot: that each row's example
// is about its phone number, that the words say the row's digits, and that
// every operation has rows.
func TestRulesTables(t *testing.T) {
	for name, doc := range ourDocs(t) {
		base := serverPath(t, doc)
		covered := map[string]bool{}
		shapes := map[string]bool{}
		for i, r := range Rules(name) {
			where := fmt.Sprintf("%s row %d (%s %s, %q)", name, i+1, r.Method, r.Path, r.When)
			key := r.Method + " " + base + r.Path
			covered[key] = true
			for _, n := range []string{r.PhoneNumber, r.Subject} {
				if n != "" && !phonePattern.MatchString(n) {
					t.Errorf("%s: %q is not a phone number the sandbox accepts", where, n)
				}
			}
			if n := r.PhoneNumber; n != "" && n != r.Subject &&
				!bytes.Contains(r.Body, []byte(`"`+n+`"`)) && !bytes.Contains(r.Body, []byte(sha(n))) {
				t.Errorf("%s: the example neither names, hashes nor signs in as %s", where, n)
			}
			if len(r.LastDigits) > 0 {
				if n := r.PhoneNumber; n == "" || !slices.Contains(r.LastDigits, lastDigit(n)) {
					t.Errorf("%s: phoneNumber %q does not end in one of the row's digits", where, n)
				}
				if want := "the line ends in " + digitWords(r.LastDigits); !strings.HasPrefix(r.When, want) {
					t.Errorf("%s: the words do not start %q", where, want)
				}
			}
			if (len(r.Body) == 0) != (r.Method == http.MethodGet) {
				t.Errorf("%s: a POST example needs a body and a GET one none", where)
			}
			if r.Shape != "" {
				if shapes[key+" "+r.Shape] {
					t.Errorf("%s: shape %q has another row", where, r.Shape)
				}
				shapes[key+" "+r.Shape] = true
			}
		}
		for key := range operations(t, doc) {
			if !covered[key] {
				t.Errorf("%s has no rows in rules/%s.json", key, name)
			}
		}
	}
	if got := Rules("nothing"); got != nil {
		t.Errorf("Rules of an unknown API = %v; want nil", got)
	}
	// Each call hands out its own copies.
	a := Rules("sim-swap")
	a[0].Body[0], a[0].Response[0], a[0].LastDigits[0] = 'X', 'X', 42
	if b := Rules("sim-swap")[0]; b.Body[0] == 'X' || b.Response[0] == 'X' || b.LastDigits[0] == 42 {
		t.Error("changing a returned Rule changed the next call's")
	}
}
