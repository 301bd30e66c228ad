// Package sandbox is gatehouse's built-in upstream for the sample network
// APIs, so that developers can try SIM Swap, Number Verification and Location
// Verification with no operator backend behind the gateway.
//
// [Definitions] returns the project's own OpenAPI 3.0.3 documents for the
// three APIs. They are wire-compatible with CAMARA SIM Swap v2, Number
// Verification v2 and Location Verification v3 (same paths, methods, scopes,
// JSON shapes and error codes). [Handler] answers those operations at their
// full paths, deterministically: its clock stands still at
// 2026-01-15T10:00:00Z, and the answer depends only on the request and the
// three-legged subject.
//
// What the sandbox answers is written once, as one table per API
// (rules/<name>.json, embedded), which [Rules] returns: each row is a
// condition (the last digit of the line the request is about, a named
// request shape, or both), an example request and the exact answer to it.
// The handler answers the rows that depend on the digit alone from the
// table; its code decides the others. The portal renders its test numbers
// and try-it presets from [Rules]; RULES.md and each operation's
// x-gatehouse-sandbox-rules are generated from the tables by
// `go generate ./internal/sandbox`; and a test sends every row's example to
// the handler and wants the row's answer.
//
// The gateway checks the token, the scope and the request schema before it
// forwards a request here, and adds the header X-Gatehouse-Subject with the
// end user's phone number ("+…") when the token is three-legged. The handler
// still checks everything it reads and answers 400 for a body it cannot use;
// it never trusts the gateway not to forward one. Every answer is JSON, an
// error is a CAMARA ErrorInfo {status, code, message} that the operation
// documents, and an x-correlator request header is echoed when it matches
// the pattern the definitions give it (the gateway owns the correlator; the
// sandbox never fails a request over one).
//
// Other paths answer 404 NOT_FOUND and other methods 405 METHOD_NOT_ALLOWED
// with Allow; the gateway normally answers those itself.
package sandbox
