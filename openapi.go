package roomcast

import _ "embed"

// openAPI is the job service's API document, served at /v1/openapi.json.
//
//go:embed docs/openapi.json
var openAPI []byte

// OpenAPI returns the job service's OpenAPI 3.1 document.
func OpenAPI() []byte { return openAPI }
