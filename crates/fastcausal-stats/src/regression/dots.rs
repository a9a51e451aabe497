//! Dot products of column blocks: the inner loops of every moment state in this module.
//!
//! A state folds a block of rows by laying each derived column (a centred input, a weighted one,
//! a product of two) out contiguously, `len` values apart by `stride`, and summing products of
//! pairs of them. [`dot`] sums one pair. [`cross_dots`] sums every pair of a set of left columns
//! with a set of right columns, in register tiles of up to 8 pairs: each loaded value is used by
//! several products, so the loop runs at the machine's multiply-add rate instead of waiting on
//! two loads per product. The fourth moments of a robust regression (126 sums for 5 inputs) are
//! such cross products, about twice as fast tiled.
//!
//! Both are vectorised by the compiler; on x86-64 a copy compiled for AVX2 and FMA is chosen at
//! run time, so the binary stays portable. The sums are in a fixed order for a given length, so
//! results do not depend on the machine beyond the rounding of fused multiply-adds.

/// `Σ x[k]·y[k]` over the common length.
pub(super) fn dot(x: &[f64], y: &[f64]) -> f64 {
    let len = x.len().min(y.len());
    let mut out = [0.0];
    cross_dots((x, &[0]), (y, &[0]), 0, len, &mut out);
    out[0]
}

/// Writes `out[k] = x[k] · y[k]` and returns their sum.
pub(super) fn products_and_sum(x: &[f64], y: &[f64], out: &mut [f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the features the function is compiled for were just detected.
        return unsafe { products_and_sum_avx2(x, y, out) };
    }
    products_and_sum_lanes(x, y, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn products_and_sum_avx2(x: &[f64], y: &[f64], out: &mut [f64]) -> f64 {
    products_and_sum_lanes(x, y, out)
}

#[inline(always)]
fn products_and_sum_lanes(x: &[f64], y: &[f64], out: &mut [f64]) -> f64 {
    const W: usize = 4 * LANES;
    let n = x.len().min(y.len()).min(out.len());
    let whole = n / W * W;
    let mut acc = [0.0f64; W];
    for ((o, a), b) in out[..whole].chunks_exact_mut(W).zip(x[..whole].chunks_exact(W)).zip(y[..whole].chunks_exact(W)) {
        for lane in 0..W {
            o[lane] = a[lane] * b[lane];
            acc[lane] += o[lane];
        }
    }
    let mut tail = 0.0;
    for ((o, a), b) in out[whole..n].iter_mut().zip(&x[whole..n]).zip(&y[whole..n]) {
        *o = a * b;
        tail += *o;
    }
    reduce(&acc) + tail
}

/// The sum of an accumulator's lanes: the vector registers added lane-wise, then the lanes of
/// the one left, in a fixed order.
#[inline(always)]
fn reduce<const W: usize>(acc: &[f64; W]) -> f64 {
    let mut v = [0.0f64; LANES];
    for chunk in acc.chunks_exact(LANES) {
        for lane in 0..LANES {
            v[lane] += chunk[lane];
        }
    }
    (v[0] + v[2]) + (v[1] + v[3])
}

/// `out[i · rights.len() + j] = Σₖ left_i[k] · right_j[k]` over `k < len`, where column `c` of
/// `lefts` is `left_data[c · stride ..][..len]` and likewise for `rights` in `right_data`.
///
/// # Panics
/// If a column reaches past its data or `out` is shorter than `lefts.len() · rights.len()`.
pub(super) fn cross_dots(
    (left_data, lefts): (&[f64], &[usize]),
    (right_data, rights): (&[f64], &[usize]),
    stride: usize,
    len: usize,
    out: &mut [f64],
) {
    let columns = Columns { left_data, lefts, right_data, rights, stride, len };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the features the function is compiled for were just detected.
        return unsafe { cross_dots_fma(&columns, out) };
    }
    // Without a known hardware FMA, a multiply and an add (a software `fma` is far slower).
    cross_dots_tiled(&columns, out, |a, b, c| a * b + c);
}

/// The operands of [`cross_dots`].
struct Columns<'a> {
    left_data: &'a [f64],
    lefts: &'a [usize],
    right_data: &'a [f64],
    rights: &'a [usize],
    stride: usize,
    len: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn cross_dots_fma(columns: &Columns, out: &mut [f64]) {
    cross_dots_tiled(columns, out, f64::mul_add)
}

/// Doubles in a 256-bit vector register.
const LANES: usize = 4;

/// Tiles of at most 8 sums: 4 rights × 2 lefts, 3 × 2, 2 × 4 or 1 × 8, smaller at the edges.
/// Each sum's accumulator is one vector register, or several for tiles of fewer than 4 sums, so
/// that at least 4 independent multiply-add chains hide the instruction's latency; with the
/// loaded values, a tile fits in the 16 vector registers of AVX2.
#[inline(always)]
fn cross_dots_tiled(c: &Columns, out: &mut [f64], fma: impl Fn(f64, f64, f64) -> f64 + Copy) {
    let (nl, nr) = (c.lefts.len(), c.rights.len());
    assert!(out.len() >= nl * nr, "cross_dots: {} outputs for {nl} × {nr}", out.len());
    let mut r0 = 0;
    while r0 < nr {
        let rn = (nr - r0).min(4);
        let tile_lefts = match rn {
            1 => 8,
            2 => 4,
            _ => 2,
        };
        let mut l0 = 0;
        while l0 < nl {
            let ln = (nl - l0).min(tile_lefts);
            macro_rules! tiles {
                ($(($l:literal, $r:literal))*) => {
                    match (ln, rn) {
                        $(($l, $r) => {
                            let sums = if $l * $r >= 5 {
                                tile::<$l, $r, LANES>(c, l0, r0, fma)
                            } else if $l * $r >= 3 {
                                tile::<$l, $r, { 2 * LANES }>(c, l0, r0, fma)
                            } else {
                                tile::<$l, $r, { 4 * LANES }>(c, l0, r0, fma)
                            };
                            for (i, row) in sums.iter().enumerate() {
                                out[(l0 + i) * nr + r0..][..$r].copy_from_slice(row);
                            }
                        })*
                        _ => unreachable!("tile {ln} × {rn}"),
                    }
                };
            }
            tiles!((1, 1) (2, 1) (3, 1) (4, 1) (5, 1) (6, 1) (7, 1) (8, 1)
                   (1, 2) (2, 2) (3, 2) (4, 2)
                   (1, 3) (2, 3)
                   (1, 4) (2, 4));
            l0 += ln;
        }
        r0 += rn;
    }
}

/// The `L × R` sums of lefts `l0..l0 + L` with rights `r0..r0 + R`, each accumulated in `W`
/// lanes (a multiple of [`LANES`]).
#[inline(always)]
fn tile<const L: usize, const R: usize, const W: usize>(
    c: &Columns,
    l0: usize,
    r0: usize,
    fma: impl Fn(f64, f64, f64) -> f64,
) -> [[f64; R]; L] {
    let (stride, len) = (c.stride, c.len);
    let lefts: [&[f64]; L] = std::array::from_fn(|i| &c.left_data[c.lefts[l0 + i] * stride..][..len]);
    let rights: [&[f64]; R] = std::array::from_fn(|j| &c.right_data[c.rights[r0 + j] * stride..][..len]);
    let mut acc = [[[0.0f64; W]; R]; L];
    let whole = len / W;
    for k in 0..whole {
        let at = k * W;
        let y: [[f64; W]; R] = std::array::from_fn(|j| rights[j][at..at + W].try_into().unwrap());
        for i in 0..L {
            let x: [f64; W] = lefts[i][at..at + W].try_into().unwrap();
            for j in 0..R {
                for lane in 0..W {
                    acc[i][j][lane] = fma(x[lane], y[j][lane], acc[i][j][lane]);
                }
            }
        }
    }
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let tail: f64 = (whole * W..len).map(|k| lefts[i][k] * rights[j][k]).sum();
            reduce(&acc[i][j]) + tail
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_dots_are_the_plain_sums() {
        // 11 columns of 37 values (not a multiple of the lanes) with a stride of 40; every tile
        // shape appears with 9 lefts against 1–7 rights, and a single
        // sum.
        let (stride, len) = (40, 37);
        let data: Vec<f64> = (0..11 * stride).map(|i| ((i * 7919) % 113) as f64 / 17.0 - 3.0).collect();
        let plain = |a: usize, b: usize| (0..len).map(|k| data[a * stride + k] * data[b * stride + k]).sum::<f64>();
        let lefts: Vec<usize> = vec![0, 1, 2, 3, 4, 5, 6, 7, 10];
        for nr in 1..=7 {
            let rights: Vec<usize> = (0..nr).map(|j| (j * 3 + 1) % 11).collect();
            let mut out = vec![f64::NAN; lefts.len() * nr];
            cross_dots((&data, &lefts), (&data, &rights), stride, len, &mut out);
            for (i, &a) in lefts.iter().enumerate() {
                for (j, &b) in rights.iter().enumerate() {
                    let (got, want) = (out[i * nr + j], plain(a, b));
                    assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "{a}·{b}: {got} vs {want}");
                }
            }
        }
        assert!((dot(&data[..len], &data[stride..stride + len]) - plain(0, 1)).abs() < 1e-12);
        let mut products = vec![0.0; len];
        let sum = products_and_sum(&data[..len], &data[stride..stride + len], &mut products);
        assert!((sum - plain(0, 1)).abs() < 1e-12);
        assert!(products.iter().enumerate().all(|(k, &p)| p == data[k] * data[stride + k]));
    }

    #[test]
    fn small_integer_sums_are_exact() {
        // With integers every order of summation is exact: 1·2 + 2·3 + 3·4 + 4·5 + 5·6 = 70.
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0; 4];
        cross_dots((&data, &[0, 1]), (&data, &[1, 0]), 5, 5, &mut out);
        assert_eq!(out, [70.0, 55.0, 90.0, 70.0]);
        cross_dots((&data, &[0]), (&data, &[1]), 5, 0, &mut out[..1]);
        assert_eq!(out[0], 0.0);
    }
}
