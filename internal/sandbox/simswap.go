package sandbox

import (
	"net/http"
)

// simSwapLine reads the body common to both SIM Swap operations and
// returns the line asked about.
func simSwapLine(body object, subject string) (string, *apiError) {
	phone, inBody, err := body.phone("phoneNumber")
	if err != nil {
		return "", err
	}
	return identify(phone, inBody, subject)
}

// simSwapCheck serves POST /sim-swap/v2/check. The answer is the line's
// lookup row: every swap the sandbox knows of is 30 minutes old, within
// any maxAge, so maxAge does not change it.
func simSwapCheck(r *http.Request, subject string, rules *digitRules) (any, *apiError) {
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	maxAge, ok, err := body.integer("maxAge")
	if err != nil {
		return nil, err
	}
	if ok && (maxAge < 1 || maxAge > 2400) {
		return nil, outOfRange("maxAge must be between 1 and 2400 hours.")
	}
	line, err := simSwapLine(body, subject)
	if err != nil {
		return nil, err
	}
	return rules.row(line).answer()
}

// simSwapRetrieveDate serves POST /sim-swap/v2/retrieve-date. The answer
// is the line's lookup row.
func simSwapRetrieveDate(r *http.Request, subject string, rules *digitRules) (any, *apiError) {
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	line, err := simSwapLine(body, subject)
	if err != nil {
		return nil, err
	}
	return rules.row(line).answer()
}
