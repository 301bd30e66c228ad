package gateway

import (
	"net/http"
	"strconv"

	"gatehouse/internal/store"
)

// lifecycleHeader returns the fields every answer of a deprecated API
// carries, whoever decides it (the gateway's errors and the upstream's
// answers alike): Deprecation (RFC 9745, a Structured Field Date, also
// for a date to come), Sunset (RFC 8594, an HTTP-date) when announced,
// and Link to the API's portal page (rel="deprecation") and to its
// successor's (rel="successor-version", RFC 5829). Nil for an API not
// deprecated.
func (g *Gateway) lifecycleHeader(rec *store.API) http.Header {
	l := rec.Lifecycle
	if !l.Deprecated() {
		return nil
	}
	h := http.Header{"Deprecation": {"@" + strconv.FormatInt(l.DeprecatedAt.Unix(), 10)}}
	if !l.SunsetAt.IsZero() {
		h["Sunset"] = []string{l.SunsetAt.UTC().Format(http.TimeFormat)}
	}
	links := []string{"<" + g.cfg.PortalURL + "/portal/apis/" + rec.Name + `>; rel="deprecation"; type="text/html"`}
	if l.Successor != "" {
		links = append(links, "<"+g.cfg.PortalURL+"/portal/apis/"+l.Successor+`>; rel="successor-version"; type="text/html"`)
	}
	h["Link"] = links
	return h
}

// setLifecycle puts the API's lifecycle fields on the answer. Each value
// is capped at its length, so that a field added to later (Link) copies
// instead of writing into the API's shared array.
func setLifecycle(h http.Header, api *compiledAPI) {
	for k, vs := range api.lifecycle {
		h[k] = vs[:len(vs):len(vs)]
	}
}
