package gateway

import (
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"gatehouse/internal/store"
)

// compiledAPI is one API ready to serve: its record, operations in a path
// tree, and where to forward.
type compiledAPI struct {
	rec      *store.API
	spec     *Spec
	basePath string
	// pattern is the metrics route label of the API's requests: its base
	// path with a trailing slash, as a ServeMux subtree pattern reads.
	pattern  string
	root     *node
	upstream upstream
	maxBody  int64
	// visitOpts are the schema validation options: request direction,
	// and JSON Schema 2020-12 for OpenAPI 3.1 documents.
	visitOpts []openapi3.SchemaValidationOption
	// lifecycle holds the Deprecation, Sunset and Link fields every answer
	// of a deprecated API carries (lifecycle.go); nil when not deprecated.
	lifecycle http.Header
	// health counts the upstream's answers for the status page
	// (apihealth.go); it outlives reloads.
	health *healthWindow
}

// node is one path segment of the route tree. Literal children win over a
// parameter child, as OpenAPI requires ("/users/me" before "/users/{id}").
type node struct {
	literal map[string]*node
	param   *node
	ops     map[string]*operation // by method; nil when no path ends here
	allow   string                // Allow header value for ops
}

func newNode() *node { return &node{literal: map[string]*node{}} }

func (n *node) insert(template string, op *operation) {
	cur := n
	for _, seg := range splitPath(template) {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if cur.param == nil {
				cur.param = newNode()
			}
			cur = cur.param
			continue
		}
		next, ok := cur.literal[seg]
		if !ok {
			next = newNode()
			cur.literal[seg] = next
		}
		cur = next
	}
	if cur.ops == nil {
		cur.ops = map[string]*operation{}
	}
	cur.ops[op.method] = op
	cur.allow = allowedMethods(cur.ops)
}

// lookup finds the node for a path relative to the base path; nil when no
// path template matches. A literal segment is tried before a parameter, and
// the parameter is tried when the literal branch leads nowhere
// ("/users/me/items" matches "/users/{id}/items" even with "/users/me").
func (n *node) lookup(rel string) *node {
	if rel == "" {
		if n.ops == nil {
			return nil
		}
		return n
	}
	rel = rel[1:] // skip "/"
	seg, rest := rel, ""
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		seg, rest = rel[:i], rel[i:]
	}
	if next, ok := n.literal[seg]; ok {
		if found := next.lookup(rest); found != nil {
			return found
		}
	}
	if n.param != nil && seg != "" {
		return n.param.lookup(rest)
	}
	return nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// routeTable is an immutable snapshot of every API; a reload swaps it
// whole, so a request sees one consistent version.
type routeTable struct {
	// apis sorted by base path length, longest first, so the most
	// specific base path wins.
	apis []*compiledAPI
	// broken lists APIs whose document no longer compiles, for logs.
	broken map[string]error
	// scopes is every scope some API defines.
	scopes map[string]struct{}
}

func newRouteTable(apis []*compiledAPI) *routeTable {
	sort.Slice(apis, func(i, j int) bool { return len(apis[i].basePath) > len(apis[j].basePath) })
	return &routeTable{apis: apis, scopes: map[string]struct{}{}}
}

// match returns the API serving path and the path relative to its base.
func (t *routeTable) match(path string) (*compiledAPI, string) {
	for _, a := range t.apis {
		if strings.HasPrefix(path, a.basePath) {
			rest := path[len(a.basePath):]
			if rest == "" || rest[0] == '/' {
				return a, rest
			}
		}
	}
	return nil, ""
}

// otherVersion returns an API whose base path shares path's first segment
// ("/sim-swap/v1/check" when "/sim-swap/v2" is served): the caller asked for
// a version that is not (or no longer) served.
func (t *routeTable) otherVersion(path string) *compiledAPI {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if first == "" {
		return nil
	}
	for _, a := range t.apis {
		if f, _, _ := strings.Cut(strings.TrimPrefix(a.basePath, "/"), "/"); f == first && a.basePath != "/"+first {
			return a
		}
	}
	return nil
}
