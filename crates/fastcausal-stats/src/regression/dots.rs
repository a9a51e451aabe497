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
//! Each has two kernels: AVX2 with fused multiply-adds, written with `std::arch` intrinsics and
//! chosen at run time on x86-64 CPUs that have it (so the binary stays portable), and plain Rust
//! that the compiler vectorises for any other target. The sums are in a fixed order for a given
//! length, so results do not depend on the machine beyond the rounding of fused multiply-adds.

/// `Σ x[k]·y[k]` over the common length.
pub(super) fn dot(x: &[f64], y: &[f64]) -> f64 {
    let len = x.len().min(y.len());
    let mut out = [0.0];
    cross_dots((x, &[0]), (y, &[0]), 0, len, &mut out);
    out[0]
}

/// Writes `out[k] = x[k] · y[k]` and returns their sum, over the common length.
pub(super) fn products_and_sum(x: &[f64], y: &[f64], out: &mut [f64]) -> f64 {
    let n = x.len().min(y.len()).min(out.len());
    let (x, y, out) = (&x[..n], &y[..n], &mut out[..n]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the features the kernel is compiled for were just detected.
        return unsafe { Fma::products_and_sum(x, y, out) };
    }
    // SAFETY: the portable kernel needs no feature.
    unsafe { Portable::products_and_sum(x, y, out) }
}

/// The sum of an accumulator's lanes: the vector registers added lane-wise, then the lanes of
/// the one left, in a fixed order.
#[inline(always)]
fn reduce(registers: &[[f64; LANES]]) -> f64 {
    let mut v = [0.0f64; LANES];
    for register in registers {
        for lane in 0..LANES {
            v[lane] += register[lane];
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
    cross_dots_tiled::<Portable>(&columns, out);
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
    cross_dots_tiled::<Fma>(columns, out)
}

/// Doubles in a 256-bit vector register.
const LANES: usize = 4;

/// The sums of one tile: `L` left columns with `R` right ones, all of the same length, each sum
/// accumulated in `U` vector registers of [`LANES`] lanes, reduced as [`reduce`] does.
trait Kernel {
    /// # Safety
    /// The CPU has the features the kernel is compiled for.
    unsafe fn tile<const L: usize, const R: usize, const U: usize>(
        lefts: [&[f64]; L],
        rights: [&[f64]; R],
    ) -> [[f64; R]; L];

    /// `out[k] = x[k] · y[k]` for slices of one length, and their sum (in `4 · LANES` lanes,
    /// reduced as [`reduce`] does).
    ///
    /// # Safety
    /// As [`Kernel::tile`].
    unsafe fn products_and_sum(x: &[f64], y: &[f64], out: &mut [f64]) -> f64;
}

/// Plain Rust, vectorised by the compiler for whatever the target has; a multiply and an add
/// rather than a fused multiply-add (a software `fma` is far slower).
struct Portable;

impl Kernel for Portable {
    #[inline(always)]
    unsafe fn products_and_sum(x: &[f64], y: &[f64], out: &mut [f64]) -> f64 {
        const W: usize = 4 * LANES;
        let whole = out.len() / W * W;
        let mut acc = [0.0f64; W];
        for ((o, a), b) in out[..whole].chunks_exact_mut(W).zip(x.chunks_exact(W)).zip(y.chunks_exact(W)) {
            for lane in 0..W {
                o[lane] = a[lane] * b[lane];
                acc[lane] += o[lane];
            }
        }
        let mut tail = 0.0;
        for ((o, a), b) in out[whole..].iter_mut().zip(&x[whole..]).zip(&y[whole..]) {
            *o = a * b;
            tail += *o;
        }
        reduce(acc.as_chunks::<LANES>().0) + tail
    }

    #[inline(always)]
    unsafe fn tile<const L: usize, const R: usize, const U: usize>(
        lefts: [&[f64]; L],
        rights: [&[f64]; R],
    ) -> [[f64; R]; L] {
        let len = lefts.first().map_or(0, |x| x.len());
        let mut acc = [[[[0.0f64; LANES]; U]; R]; L];
        let step = U * LANES;
        let whole = len / step;
        for k in 0..whole {
            for u in 0..U {
                let at = k * step + u * LANES;
                for i in 0..L {
                    let x = &lefts[i][at..at + LANES];
                    for j in 0..R {
                        let y = &rights[j][at..at + LANES];
                        for lane in 0..LANES {
                            acc[i][j][u][lane] += x[lane] * y[lane];
                        }
                    }
                }
            }
        }
        std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let tail: f64 = (whole * step..len).map(|k| lefts[i][k] * rights[j][k]).sum();
                reduce(&acc[i][j]) + tail
            })
        })
    }
}

/// AVX2 with fused multiply-adds, written with the intrinsics so that every accumulator stays
/// in a register.
#[cfg(target_arch = "x86_64")]
struct Fma;

#[cfg(target_arch = "x86_64")]
impl Kernel for Fma {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn products_and_sum(x: &[f64], y: &[f64], out: &mut [f64]) -> f64 {
        use std::arch::x86_64::{
            __m256d, _mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd, _mm256_storeu_pd,
        };
        let n = out.len();
        assert!(x.len() == n && y.len() == n, "products_and_sum: slices of different lengths");
        const U: usize = 4;
        let step = U * LANES;
        let whole = n / step;
        let mut acc: [__m256d; U] = [_mm256_setzero_pd(); U];
        let (xp, yp, op) = (x.as_ptr(), y.as_ptr(), out.as_mut_ptr());
        for k in 0..whole {
            for (u, a) in acc.iter_mut().enumerate() {
                let at = k * step + u * LANES;
                // SAFETY: at + LANES ≤ whole · step ≤ n, the length of all three slices.
                unsafe {
                    let p = _mm256_mul_pd(_mm256_loadu_pd(xp.add(at)), _mm256_loadu_pd(yp.add(at)));
                    _mm256_storeu_pd(op.add(at), p);
                    *a = _mm256_add_pd(*a, p);
                }
            }
        }
        let mut lanes = [0.0f64; 4 * LANES];
        for (u, a) in acc.iter().enumerate() {
            // SAFETY: `lanes` holds U · LANES doubles.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr().add(u * LANES), *a) };
        }
        let mut tail = 0.0;
        for k in whole * step..n {
            out[k] = x[k] * y[k];
            tail += out[k];
        }
        reduce(lanes.as_chunks::<LANES>().0) + tail
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const L: usize, const R: usize, const U: usize>(
        lefts: [&[f64]; L],
        rights: [&[f64]; R],
    ) -> [[f64; R]; L] {
        use std::arch::x86_64::{
            __m256d, _mm256_add_pd, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd,
        };
        let len = lefts.first().map_or(0, |x| x.len());
        assert!(lefts.iter().chain(&rights).all(|x| x.len() == len), "tile columns of different lengths");
        let (lp, rp): ([*const f64; L], [*const f64; R]) =
            (std::array::from_fn(|i| lefts[i].as_ptr()), std::array::from_fn(|j| rights[j].as_ptr()));
        let mut acc: [[[__m256d; U]; R]; L] = [[[_mm256_setzero_pd(); U]; R]; L];
        let step = U * LANES;
        let whole = len / step;
        for k in 0..whole {
            for u in 0..U {
                let at = k * step + u * LANES;
                // SAFETY: at + LANES ≤ whole · step ≤ len, the length of every column.
                let y: [__m256d; R] = std::array::from_fn(|j| unsafe { _mm256_loadu_pd(rp[j].add(at)) });
                for i in 0..L {
                    // SAFETY: as above.
                    let x = unsafe { _mm256_loadu_pd(lp[i].add(at)) };
                    for j in 0..R {
                        acc[i][j][u] = _mm256_fmadd_pd(x, y[j], acc[i][j][u]);
                    }
                }
            }
        }
        std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let mut v = acc[i][j][0];
                for part in &acc[i][j][1..] {
                    v = _mm256_add_pd(v, *part);
                }
                let mut lanes = [0.0f64; LANES];
                // SAFETY: `lanes` holds LANES doubles.
                unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
                let tail: f64 = (whole * step..len).map(|k| lefts[i][k] * rights[j][k]).sum();
                reduce(&[lanes]) + tail
            })
        })
    }
}

/// Tiles of at most 8 sums: 4 rights × 2 lefts, 3 × 2, 2 × 4 or 1 × 8, smaller at the edges.
/// Each sum's accumulator is one vector register, or several for tiles of fewer than 5 sums, so
/// that at least 4 independent multiply-add chains hide the instruction's latency; with the
/// loaded values, a tile fits in the 16 vector registers of AVX2.
#[inline(always)]
fn cross_dots_tiled<K: Kernel>(c: &Columns, out: &mut [f64]) {
    let (nl, nr) = (c.lefts.len(), c.rights.len());
    assert!(out.len() >= nl * nr, "cross_dots: {} outputs for {nl} × {nr}", out.len());
    fn column(data: &[f64], index: usize, stride: usize, len: usize) -> &[f64] {
        &data[index * stride..][..len]
    }
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
                            let lefts: [&[f64]; $l] = std::array::from_fn(|i| column(c.left_data, c.lefts[l0 + i], c.stride, c.len));
                            let rights: [&[f64]; $r] = std::array::from_fn(|j| column(c.right_data, c.rights[r0 + j], c.stride, c.len));
                            // SAFETY: `K` is chosen by the caller for the CPU it runs on.
                            let sums = unsafe {
                                if $l * $r >= 5 {
                                    K::tile::<$l, $r, 1>(lefts, rights)
                                } else if $l * $r >= 3 {
                                    K::tile::<$l, $r, 2>(lefts, rights)
                                } else {
                                    K::tile::<$l, $r, 4>(lefts, rights)
                                }
                            };
                            for (i, row) in sums.iter().enumerate() {
                                out[(l0 + i) * nr + r0..][..$r].copy_from_slice(row);
                            }
                        })*
                        _ => unreachable!("tile {ln} × {rn}"),
                    }
                };
            }
            tiles!((1, 1)(2, 1)(3, 1)(4, 1)(5, 1)(6, 1)(7, 1)(8, 1)(1, 2)(2, 2)(3, 2)(4, 2)(1, 3)(2, 3)(1, 4)(2, 4));
            l0 += ln;
        }
        r0 += rn;
    }
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
            // The portable kernel too, whatever this CPU would choose.
            let mut portable = vec![f64::NAN; lefts.len() * nr];
            let columns = Columns { left_data: &data, lefts: &lefts, right_data: &data, rights: &rights, stride, len };
            cross_dots_tiled::<Portable>(&columns, &mut portable);
            for (i, &a) in lefts.iter().enumerate() {
                for (j, &b) in rights.iter().enumerate() {
                    let want = plain(a, b);
                    for got in [out[i * nr + j], portable[i * nr + j]] {
                        assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "{a}·{b}: {got} vs {want}");
                    }
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
