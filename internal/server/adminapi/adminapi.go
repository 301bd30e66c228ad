// Package adminapi holds the admin API's OpenAPI document, served at
// /admin/openapi.yaml and checked against the handlers by the server's
// tests (every route documented, every documented route served, the
// answers of real calls valid against it).
package adminapi

import _ "embed"

// Document is the admin API's OpenAPI 3.0 document (YAML).
//
//go:embed openapi.yaml
var Document []byte
