package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

var errNotNetworkAuthenticated = &apiError{http.StatusForbidden, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
	"Client must authenticate via the mobile network to use this service: use a three-legged token from the network sign-in."}

// numberVerify serves POST /number-verification/v2/verify.
func numberVerify(r *http.Request, subject string, _ *digitRules) (any, *apiError) {
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	phone, plain, err := body.phone("phoneNumber")
	if err != nil {
		return nil, err
	}
	hash, hashed, err := body.str("hashedPhoneNumber")
	if err != nil {
		return nil, err
	}
	if hashed && !hashPattern.MatchString(hash) {
		return nil, invalidArgument("hashedPhoneNumber must be 64 hexadecimal digits (SHA-256).")
	}
	if plain == hashed || len(body) != 1 {
		return nil, invalidArgument("Send exactly one of phoneNumber and hashedPhoneNumber, and nothing else.")
	}
	if subject == "" {
		return nil, errNotNetworkAuthenticated
	}
	var verified bool
	if plain {
		verified = phone == subject
	} else {
		sum := sha256.Sum256([]byte(subject))
		verified = strings.EqualFold(hash, hex.EncodeToString(sum[:]))
	}
	return struct {
		Verified bool `json:"devicePhoneNumberVerified"`
	}{verified}, nil
}

// devicePhoneNumber serves GET /number-verification/v2/device-phone-number.
func devicePhoneNumber(_ *http.Request, subject string, _ *digitRules) (any, *apiError) {
	if subject == "" {
		return nil, errNotNetworkAuthenticated
	}
	return struct {
		Phone string `json:"devicePhoneNumber"`
	}{subject}, nil
}
