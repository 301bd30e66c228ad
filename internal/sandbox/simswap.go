package sandbox

import (
	"net/http"
)

var errServiceNotApplicable = &apiError{http.StatusUnprocessableEntity, "SERVICE_NOT_APPLICABLE",
	"Sandbox: SIM Swap is not available for phone numbers ending in 3."}

// simSwapLine reads the body common to both SIM Swap operations and
// returns the line asked about.
func simSwapLine(body object, subject string) (string, *apiError) {
	phone, inBody, err := body.phone("phoneNumber")
	if err != nil {
		return "", err
	}
	return identify(phone, inBody, subject)
}

// simSwapCheck serves POST /sim-swap/v2/check.
func simSwapCheck(r *http.Request, subject string) (any, *apiError) {
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
	// Every swap the sandbox knows of is 30 minutes old, within any maxAge.
	switch d := lastDigit(line); d {
	case 3:
		return nil, errServiceNotApplicable
	case 4:
		return nil, errIdentifierNotFound
	default:
		return struct {
			Swapped bool `json:"swapped"`
		}{d%2 == 1}, nil
	}
}

// simChange is the retrieve-date answer; LatestSimChange nil is JSON null.
type simChange struct {
	LatestSimChange *string `json:"latestSimChange"`
	MonitoredPeriod *int    `json:"monitoredPeriod,omitempty"`
}

// simSwapRetrieveDate serves POST /sim-swap/v2/retrieve-date.
func simSwapRetrieveDate(r *http.Request, subject string) (any, *apiError) {
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	line, err := simSwapLine(body, subject)
	if err != nil {
		return nil, err
	}
	switch lastDigit(line) {
	case 1, 5, 7, 9:
		return simChange{LatestSimChange: timestamp(lastSwap)}, nil
	case 2, 0:
		days := 120
		return simChange{MonitoredPeriod: &days}, nil
	case 6:
		return simChange{}, nil
	case 8:
		return simChange{LatestSimChange: timestamp(activation)}, nil
	case 3:
		return nil, errServiceNotApplicable
	default: // 4
		return nil, errIdentifierNotFound
	}
}
