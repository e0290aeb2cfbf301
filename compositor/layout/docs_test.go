package layout

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every whole document in docs/layouts.md parses, and the interview example
// gives the geometry the page states.
func TestDocsExamplesParse(t *testing.T) {
	md, err := os.ReadFile("../../docs/layouts.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(json|yaml)\n(.*?)```").FindAllStringSubmatch(string(md), -1)
	n := 0
	for _, b := range blocks {
		if !strings.Contains(b[2], "video_layout") {
			continue
		}
		n++
		f := FormatJSON
		if b[1] == "yaml" {
			f = FormatYAML
		}
		d, err := Parse([]byte(b[2]), f)
		if err != nil {
			t.Errorf("docs example does not parse: %v\n%s", err, b[2])
			continue
		}
		for _, c := range canvases {
			checkPlacements(t, NewEngine(d).Arrange(append(peers(5), screenOf(peers(5)[0])), c[0], c[1]), c[0], c[1])
		}
	}
	if n < 4 {
		t.Errorf("found %d example documents in docs/layouts.md", n)
	}
}
