package sandbox

import (
	"embed"
)

//go:embed apis/*.yaml
var apiFiles embed.FS

// Definition is one sandbox API as the gateway and the portal load it.
type Definition struct {
	// Name is the API's short name and the file name without ".yaml",
	// e.g. "sim-swap".
	Name string
	// BasePath is the path of the document's server URL, e.g. "/sim-swap/v2";
	// every operation is served at BasePath followed by its OpenAPI path.
	BasePath string
	// Document is the OpenAPI 3.0.3 document, in YAML. It is the caller's
	// copy: changing it changes nothing else.
	Document []byte
}

// definitions lists the sandbox APIs in the order Definitions returns them.
var definitions = []struct{ name, basePath string }{
	{"sim-swap", "/sim-swap/v2"},
	{"number-verification", "/number-verification/v2"},
	{"location-verification", "/location-verification/v3"},
}

// Definitions returns the OpenAPI documents of the APIs that [Handler]
// serves: SIM Swap, Number Verification and Location Verification, in that
// order. Each call returns fresh copies of the documents.
func Definitions() []Definition {
	out := make([]Definition, 0, len(definitions))
	for _, d := range definitions {
		doc, err := apiFiles.ReadFile("apis/" + d.name + ".yaml")
		if err != nil {
			// The files are embedded at build time; a missing one is a
			// build mistake the tests catch, never a runtime condition.
			panic("sandbox: " + err.Error())
		}
		out = append(out, Definition{Name: d.name, BasePath: d.basePath, Document: doc})
	}
	return out
}
