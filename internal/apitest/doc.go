// Package apitest checks the job service's answers against its OpenAPI
// document (docs/openapi.json) with kin-openapi, for the API's own tests and
// the end-to-end tests of `roomcast serve`: every answer a test sees is
// validated, so the document and the service cannot drift apart.
package apitest
