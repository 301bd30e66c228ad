package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// locationResult is the Location Verification answer.
type locationResult struct {
	VerificationResult string  `json:"verificationResult"`
	MatchRate          int     `json:"matchRate,omitempty"`
	LastLocationTime   *string `json:"lastLocationTime"`
	Device             *struct {
		PhoneNumber string `json:"phoneNumber"`
	} `json:"device,omitempty"`
}

// locationVerify serves POST /location-verification/v3/verify.
func locationVerify(r *http.Request, subject string, rules *digitRules) (any, *apiError) {
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	if err := checkArea(body); err != nil {
		return nil, err
	}
	maxAge, hasMaxAge, err := body.integer("maxAge")
	if err != nil {
		return nil, err
	}
	if hasMaxAge && maxAge < 0 {
		return nil, outOfRange("maxAge must be 0 (a fresh location) or more seconds.")
	}
	device, hasDevice, err := body.obj("device")
	if err != nil {
		return nil, err
	}
	var phone string
	var hasPhone bool
	if hasDevice {
		if len(device) == 0 {
			return nil, invalidArgument("device must name at least one identifier.")
		}
		if phone, hasPhone, err = device.phone("phoneNumber"); err != nil {
			return nil, err
		}
		if !hasPhone && subject == "" {
			return nil, &apiError{http.StatusUnprocessableEntity, "UNSUPPORTED_IDENTIFIER",
				"Sandbox: devices are known by device.phoneNumber only."}
		}
	}
	line, err := identify(phone, hasDevice, subject)
	if err != nil {
		return nil, err
	}

	// The line's lookup row gives the answer.
	row := rules.row(line)
	if row.Status != http.StatusOK {
		return row.answer()
	}
	res, fixed := locationAnswer(row)
	if age := int64(now.Sub(fixed) / time.Second); hasMaxAge && maxAge < age {
		return nil, &apiError{http.StatusUnprocessableEntity, "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE",
			fmt.Sprintf("Sandbox: the latest known location is %d seconds old, older than maxAge allows.", age)}
	}
	// The row's device is its example's; the answer names the request's.
	res.Device = nil
	if hasDevice {
		res.Device = &struct {
			PhoneNumber string `json:"phoneNumber"`
		}{line}
	}
	return res, nil
}

// locationAnswer reads a 200 lookup row: the answer, and when the device
// was located. The tests run every row, so a row it cannot read is a build
// mistake; the panic becomes a 500 INTERNAL.
func locationAnswer(row *Rule) (locationResult, time.Time) {
	var res locationResult
	if err := json.Unmarshal(row.Response, &res); err != nil || res.LastLocationTime == nil {
		panic(fmt.Sprintf("sandbox: location rule %q: response %s: %v", row.When, row.Response, err))
	}
	fixed, err := time.Parse(time.RFC3339, *res.LastLocationTime)
	if err != nil {
		panic(fmt.Sprintf("sandbox: location rule %q: %v", row.When, err))
	}
	return res, fixed
}

// checkArea checks the body's area: a CIRCLE with a center inside the
// coordinate ranges and a radius of at least one metre.
func checkArea(body object) *apiError {
	area, ok, err := body.obj("area")
	if err != nil {
		return err
	}
	if !ok {
		return invalidArgument("area is required.")
	}
	kind, ok, err := area.str("areaType")
	if err != nil {
		return err
	}
	if !ok || kind != "CIRCLE" {
		return invalidArgument(`area.areaType must be "CIRCLE".`)
	}
	center, ok, err := area.obj("center")
	if err != nil {
		return err
	}
	if !ok {
		return invalidArgument("area.center is required.")
	}
	for _, c := range []struct {
		name  string
		limit float64
	}{{"latitude", 90}, {"longitude", 180}} {
		v, ok, err := center.number(c.name)
		if err != nil {
			return err
		}
		if !ok {
			return invalidArgument("area.center." + c.name + " is required.")
		}
		if v < -c.limit || v > c.limit {
			return outOfRange("area.center." + c.name + " is out of range.")
		}
	}
	radius, ok, err := area.number("radius")
	if err != nil {
		return err
	}
	if !ok {
		return invalidArgument("area.radius is required.")
	}
	if radius < 1 {
		return outOfRange("area.radius must be at least 1 metre.")
	}
	return nil
}
