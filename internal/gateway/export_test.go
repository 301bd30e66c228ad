package gateway

// ReadCAMARA is readCAMARA (compile_test.go) for the package's external
// tests, so that both find the shared CAMARA files the same way.
var ReadCAMARA = readCAMARA
