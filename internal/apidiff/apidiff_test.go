package apidiff

import (
	"fmt"
	"strings"
	"testing"

	"gatehouse/internal/testcamara"
)

const v1 = `openapi: 3.0.3
info: {title: Items, version: 1.0.0}
paths:
  /items:
    post:
      summary: Create an item
      security: [{oauth: [items:write]}]
      parameters:
        - {in: query, name: dryRun, schema: {type: boolean}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string}
                size: {type: integer}
                owner:
                  type: object
                  properties:
                    id: {type: string}
      responses:
        "201": {description: created}
  /items/{id}:
    delete:
      summary: Delete an item
      parameters:
        - {in: path, name: id, required: true, schema: {type: string}}
      responses:
        "204": {description: deleted}
components:
  securitySchemes:
    oauth: {type: oauth2, flows: {clientCredentials: {tokenUrl: /t, scopes: {items:write: w, items:admin: a}}}}
`

const v2 = `openapi: 3.0.3
info: {title: Items, version: 2.0.0}
paths:
  /items:
    get:
      summary: List items
      responses:
        "200": {description: items}
    post:
      summary: Create an item
      security: [{oauth: [items:admin]}]
      parameters:
        - {in: query, name: dryRun, required: true, schema: {type: boolean}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name, colour]
              properties:
                name: {type: string}
                size: {type: string}
                colour: {type: string}
                owner:
                  type: object
                  properties:
                    id: {type: string}
                    email: {type: string}
      responses:
        "201": {description: created}
        "409": {description: exists}
components:
  securitySchemes:
    oauth: {type: oauth2, flows: {clientCredentials: {tokenUrl: /t, scopes: {items:write: w, items:admin: a}}}}
`

func TestDiff(t *testing.T) {
	a, err := Load([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load([]byte(v2))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range Diff(a, b) {
		got = append(got, fmt.Sprintf("%s %v %s: %s", c.Kind, c.Breaking, c.Operation, c.Text))
	}
	want := []string{
		"added false GET /items: New operation: List items",
		"changed true POST /items: The query parameter dryRun is now required",
		"added true POST /items: New required field colour",
		"added false POST /items: New optional field owner.email",
		"changed true POST /items: The type of field size changed from integer to string",
		"added false POST /items: New response 409",
		"changed true POST /items: Scopes changed from items:write to items:admin",
		"removed true DELETE /items/{id}: Operation removed: Delete an item",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Diff(v1, v2):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := Diff(b, b); len(d) != 0 {
		t.Errorf("Diff of a document with itself: %v", d)
	}
}

// TestCAMARAUnchanged: each CAMARA document compared with itself has no
// change (the comparison follows references without inventing any).
func TestCAMARAUnchanged(t *testing.T) {
	for _, name := range []string{"sim-swap.yaml", "number-verification.yaml", "location-verification.yaml"} {
		doc := testcamara.Read(t, name)
		a, err := Load(doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := Load(doc)
		if d := Diff(a, b); len(d) != 0 {
			t.Errorf("%s against itself: %v", name, d)
		}
	}
}
