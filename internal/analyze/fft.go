package analyze

import (
	"math"
	"math/bits"
)

// fft is an in-place radix-2 complex FFT of a fixed power-of-two size, with
// its twiddles and bit-reversal table computed once.
type fft struct {
	n       int
	twiddle []complex128
	rev     []int
}

func newFFT(n int) *fft {
	if n < 2 || n&(n-1) != 0 {
		panic("analyze: fft size must be a power of two")
	}
	f := &fft{n: n, twiddle: make([]complex128, n/2), rev: make([]int, n)}
	for i := range f.twiddle {
		s, c := math.Sincos(-2 * math.Pi * float64(i) / float64(n))
		f.twiddle[i] = complex(c, s)
	}
	shift := bits.UintSize - bits.TrailingZeros(uint(n))
	for i := range f.rev {
		f.rev[i] = int(bits.Reverse(uint(i)) >> shift)
	}
	return f
}

// transform computes the forward DFT of x in place; len(x) must be f.n.
func (f *fft) transform(x []complex128) {
	for i, j := range f.rev {
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= f.n; size <<= 1 {
		half, step := size/2, f.n/size
		for start := 0; start < f.n; start += size {
			for k := 0; k < half; k++ {
				t := f.twiddle[k*step] * x[start+k+half]
				x[start+k+half] = x[start+k] - t
				x[start+k] += t
			}
		}
	}
}
