package api

import "testing"

// TestStartAudioOnlyJob: audioOnly passes the API document's request schema
// and the job config's validation; with thumbnails it is refused, naming
// the field.
func TestStartAudioOnlyJob(t *testing.T) {
	c, _, _ := setup(t, Options{})
	c.want(201, "POST", "/v1/jobs", `{"meetingUrl":"demo:","record":true,"audioOnly":true}`)
	p := problem(t, c.want(422, "POST", "/v1/jobs", `{"meetingUrl":"file:room.yaml","record":true,"audioOnly":true,"thumbnails":"10s"}`))
	found := false
	for _, f := range p.Fields {
		found = found || f.Field == "thumbnails"
	}
	if p.Code != CodeInvalidConfig || !found {
		t.Errorf("audioOnly with thumbnails: %+v, want %s naming thumbnails", p, CodeInvalidConfig)
	}
}
