package config

import "strings"

// Error is a validation error: one or more problems, each naming its field
// (a job field by its contract name, a worker setting by its flag).
type Error struct {
	Problems []string
	// Subject is what was invalid; empty means the job config.
	Subject string
}

func (e *Error) Error() string {
	subject := e.Subject
	if subject == "" {
		subject = "job config"
	}
	if len(e.Problems) == 1 {
		return "invalid " + subject + ": " + e.Problems[0]
	}
	return "invalid " + subject + ":\n  - " + strings.Join(e.Problems, "\n  - ")
}
