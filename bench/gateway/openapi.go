package main

// benchOpenAPI is the API the gateway scenario serves: one operation with a
// scope requirement and a request body schema, so every request pays for
// token verification, the scope check and JSON schema validation.
const benchOpenAPI = `{
  "openapi": "3.0.3",
  "info": {"title": "Gateway benchmark", "version": "1.0.0"},
  "servers": [{
    "url": "{apiRoot}/bench/v1",
    "variables": {"apiRoot": {"default": "http://localhost:9091", "description": "API root"}}
  }],
  "paths": {
    "/check": {
      "post": {
        "operationId": "check",
        "security": [{"openId": ["bench:check"]}],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": ["phoneNumber"],
                "properties": {
                  "phoneNumber": {"type": "string", "pattern": "^\\+[1-9][0-9]{4,14}$"},
                  "maxAge": {"type": "integer", "minimum": 1, "maximum": 2400}
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "checked",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {"swapped": {"type": "boolean"}}
                }
              }
            }
          }
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "openId": {
        "type": "openIdConnect",
        "openIdConnectUrl": "https://example.com/.well-known/openid-configuration"
      }
    }
  }
}
`
