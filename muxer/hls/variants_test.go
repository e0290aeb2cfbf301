package hls

import (
	"slices"
	"testing"

	"github.com/roomcast/roomcast/config"
)

// config lists the variants without importing this package (which needs
// FFmpeg): the two lists must agree.
func TestVariantsMatchConfig(t *testing.T) {
	if got, want := config.HLSVariants(), []string{VariantLowLatency, VariantFMP4, VariantMPEGTS}; !slices.Equal(got, want) {
		t.Errorf("config.HLSVariants() = %v, muxer/hls has %v", got, want)
	}
}
