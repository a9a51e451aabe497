//! Vectorisable sums. Floating-point addition is not associative, so the compiler will not
//! reorder a plain running sum into SIMD lanes; these kernels keep four independent partial
//! sums, which both vectorises and roughly halves the rounding error of a naive sum.

/// Sum of `xs`.
#[inline]
pub(crate) fn sum(xs: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = xs.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        acc[0] += c[0];
        acc[1] += c[1];
        acc[2] += c[2];
        acc[3] += c[3];
    }
    let mut tail = 0.0;
    for &x in rest {
        tail += x;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Sum of `x - mx`: the residual that corrects a mean computed as `sum / n` (the corrected
/// two-pass algorithm).
#[inline]
pub(crate) fn sum_centered(x: &[f64], mx: f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = x.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        acc[0] += c[0] - mx;
        acc[1] += c[1] - mx;
        acc[2] += c[2] - mx;
        acc[3] += c[3] - mx;
    }
    let mut tail = 0.0;
    for &v in rest {
        tail += v - mx;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Sum of `(x - mx) * (y - my)`.
#[inline]
pub(crate) fn sum_centered_product(x: &[f64], mx: f64, y: &[f64], my: f64) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0.0f64; 4];
    let n4 = x.len() / 4 * 4;
    let (xh, xt) = x.split_at(n4);
    let (yh, yt) = y.split_at(n4);
    for (a, b) in xh.chunks_exact(4).zip(yh.chunks_exact(4)) {
        acc[0] += (a[0] - mx) * (b[0] - my);
        acc[1] += (a[1] - mx) * (b[1] - my);
        acc[2] += (a[2] - mx) * (b[2] - my);
        acc[3] += (a[3] - mx) * (b[3] - my);
    }
    let mut tail = 0.0;
    for (a, b) in xt.iter().zip(yt) {
        tail += (a - mx) * (b - my);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_hand_values() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert_eq!(sum(&xs), 28.0);
        assert_eq!(sum(&[]), 0.0);
        // mean 4: centred squares 9+4+1+0+1+4+9
        assert_eq!(sum_centered_product(&xs, 4.0, &xs, 4.0), 28.0);
    }
}
