package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// liveAPIDoc is a minimal API served by a test upstream.
const liveAPIDoc = `openapi: 3.0.3
info: {title: Live test API, version: 1.0.0}
servers: [{url: "{apiRoot}/live/v1", variables: {apiRoot: {default: "http://localhost"}}}]
components:
  securitySchemes:
    openId: {type: openIdConnect, openIdConnectUrl: "https://example.com/.well-known/openid-configuration"}
paths:
  /ping:
    post:
      operationId: ping
      security: [{openId: ["live:ping"]}]
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, properties: {n: {type: integer}}}}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object}}}}
`

// call sends a JSON POST with a bearer token.
func call(t *testing.T, target, token, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}
