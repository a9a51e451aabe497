//! The survival function of Kolmogorov's two-sided statistic D_n for a sample of size n —
//! scipy's `stats.kstwo.sf(d, n)` — and of Smirnov's one-sided statistic — scipy's
//! `special.smirnov(n, d)`.
//!
//! No single algorithm is both fast and accurate over all (n, d), so scipy follows Simard and
//! L'Ecuyer (2011) and switches by n, t = n·d and n·d²; this module makes the same switches with
//! the same constants:
//!
//! * t ≤ 1 or t ≥ n − 1: the closed forms of Ruben and Gambino;
//! * d ≥ 0.5: exactly 2·smirnov(n, d) (the two one-sided events are disjoint);
//! * n ≤ 140: Durbin's matrix algorithm in the form of Marsaglia, Tsang and Wang for
//!   n·d² ≤ 0.754693, Pomeranz's recursion for n·d² ≤ 4, 2·smirnov beyond;
//! * n > 140: 0 for n·d² ≥ 370, 2·smirnov for n·d² ≥ 2.2, otherwise 1 − CDF with the CDF from
//!   Durbin's matrix (n ≤ 100,000 and n·d^1.5 ≤ 1.4) or the Pelz–Good asymptotic series.
//!
//! smirnov(n, d) is the Birnbaum–Tingey sum Σ_v C(n,v) d (d + v/n)^{v−1} (1 − d − v/n)^{n−v},
//! evaluated in double-double with exponents kept apart (the terms over- and underflow doubles
//! long before the sum does); for n > 10⁶ scipy replaces it by exp(−(6nd+1)²/(18n)), and so
//! does this module.
//!
//! Where scipy's scalars turn into `long double` (the n!/nⁿ scalings of the Durbin and Pomeranz
//! algorithms), x87 extended precision is emulated exactly (see `dd::NpScalar`): near
//! n·d² = 4 the p-value is 1 − CDF with CDF ≈ 0.9993, so the CDF's last bits show in the
//! p-value's twelfth digit and have to be scipy's.

// The published coefficients are kept digit for digit.
#![allow(clippy::excessive_precision)]

use super::dd::{DD, NpScalar, ldexp};

const E128: i32 = 128;
const SMIRNOV_MAX_COMPUTE_N: i64 = 1_000_000;
const SM_UPPER_MAX_TERMS: i64 = 3;
const SM_UPPERSUM_MIN_N: i64 = 10;
const SM_MAX_EXPONENT: i32 = 960;
/// log(2^-1075): exp of anything below is 0.
const MINLOG: f64 = -7.451332191019412076235245305675398106812E2;

fn ep128() -> f64 {
    ldexp(1.0, E128)
}

fn em128() -> f64 {
    ldexp(1.0, -E128)
}

/// scipy.stats.kstwo.sf(d, n): P(D_n ≥ d) for the two-sided one-sample statistic.
pub fn kstwo_sf(d: f64, n: u64) -> f64 {
    if d.is_nan() || n == 0 {
        return f64::NAN;
    }
    let nf = n as f64;
    // Support (0.5/n, 1): sf is 1 at or below the lower end and 0 at or above the upper one.
    if d <= 0.5 / nf {
        return 1.0;
    }
    if d >= 1.0 {
        return 0.0;
    }
    kolmogn_sf(n, d)
}

fn clip(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// log(n!/nⁿ) by Stirling's series with n·log(n) removed up front.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    const STIRLING: [f64; 8] = [
        -2.955065359477124183e-2,
        6.4102564102564102564e-3,
        -1.9175269175269175269e-3,
        8.4175084175084175084e-4,
        -5.952380952380952381e-4,
        7.9365079365079365079e-4,
        -2.7777777777777777778e-3,
        8.3333333333333333333e-2,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let mut poly = STIRLING[0];
    for &c in &STIRLING[1..] {
        poly = poly * x + c;
    }
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    n.ln() / 2.0 - n + log_2pi / 2.0 + rn * poly
}

/// scipy's `_kolmogn(n, x, cdf=False)`.
fn kolmogn_sf(n: u64, x: f64) -> f64 {
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        // Ruben–Gambino: P(D_n < d) = n!/nⁿ (2t − 1)ⁿ for 1/(2n) ≤ d ≤ 1/n.
        if t <= 0.5 {
            return 1.0;
        }
        let prob = if n <= 140 {
            let mut p = 1.0;
            let base = 2.0 * t - 1.0;
            for i in 1..=n {
                p *= i as f64 * (1.0 / nf) * base;
            }
            p
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - prob);
    }
    if t >= nf - 1.0 {
        return clip(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let nxsquared = t * x;
    if n <= 140 {
        if nxsquared <= 0.754693 {
            return sf_from_cdf(durbin_mtw_cdf(n, x));
        }
        if nxsquared <= 4.0 {
            return sf_from_cdf(pomeranz_cdf(n, x));
        }
        return clip(2.0 * smirnov_sf(n, x));
    }
    if nxsquared >= 370.0 {
        return 0.0;
    }
    if nxsquared >= 2.2 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let cdf =
        if n <= 100_000 && nf * x.powf(1.5) <= 1.4 { durbin_mtw_cdf(n, x) } else { NpScalar::F64(pelz_good_cdf(n, x)) };
    sf_from_cdf(cdf)
}

/// clip(1 − clip(cdf)), in the precision the CDF was computed in, rounded to a double.
fn sf_from_cdf(cdf: NpScalar) -> f64 {
    clip(cdf.clip01().one_minus())
}

/// P(D_n ≤ d) by Durbin's matrix algorithm (Marsaglia, Tsang and Wang's formulation): the k-th
/// diagonal element of Hⁿ, times n!/nⁿ, with d = (k − h)/n, powers by repeated squaring and
/// explicit exponents to stay within the double range.
fn durbin_mtw_cdf(n: u64, d: f64) -> NpScalar {
    if d >= 1.0 {
        return NpScalar::F64(1.0);
    }
    let nf = n as f64;
    let nd = nf * d;
    if nd <= 0.5 {
        return NpScalar::F64(0.0);
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;

    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powf(j as f64)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0f64;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let first = if 2.0 * h - 1.0 > 0.0 { (2.0 * h - 1.0).powf(m as f64) } else { 0.0 };
    let tt = first - 2.0 * h.powf(m as f64);
    v[m - 1] = (1.0 + tt) * fac;

    // H: w on and below the superdiagonal (H[r][c] = w[r − c + 1] for r ≥ c − 1, c ≥ 1),
    // first column v, last row v reversed.
    let mut hm = vec![0.0f64; m * m];
    for c in 1..m {
        for r in (c - 1)..m {
            hm[r * m + c] = w[r - (c - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }

    let mut hpwr = vec![0.0f64; m * m];
    for i in 0..m {
        hpwr[i * m + i] = 1.0;
    }
    let mut scratch = vec![0.0f64; m * m];
    let mut nn = n;
    let mut expnt: i64 = 0;
    let mut hexpnt: i64 = 0;
    while nn > 0 {
        if nn % 2 == 1 {
            matmul(&hpwr, &hm, &mut scratch, m);
            std::mem::swap(&mut hpwr, &mut scratch);
            expnt += hexpnt;
        }
        matmul(&hm, &hm, &mut scratch, m);
        std::mem::swap(&mut hm, &mut scratch);
        hexpnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > ep128() {
            let s = em128();
            for x in hm.iter_mut() {
                *x *= s;
            }
            hexpnt += E128 as i64;
        }
        nn /= 2;
    }
    // Multiply by n!/nⁿ: a double until the first rescaling by a long double 2^128.
    let mut p = NpScalar::F64(hpwr[(k - 1) * m + (k - 1)]);
    for i in 1..=n {
        p = p.mul(i as f64).div(nf);
        if p.abs() < em128() {
            p = p.scale_long(E128);
            expnt -= E128 as i64;
        }
    }
    if expnt != 0 {
        p = p.ldexp(expnt);
    }
    p.clip01()
}

/// c = a·b for m×m row-major matrices.
fn matmul(a: &[f64], b: &[f64], c: &mut [f64], m: usize) {
    for x in c.iter_mut() {
        *x = 0.0;
    }
    for i in 0..m {
        for l in 0..m {
            let ail = a[i * m + l];
            if ail == 0.0 {
                continue;
            }
            let brow = &b[l * m..(l + 1) * m];
            let crow = &mut c[i * m..(i + 1) * m];
            for (cj, bj) in crow.iter_mut().zip(brow) {
                *cj += ail * bj;
            }
        }
    }
}

/// Row bounds of Pomeranz's recursion.
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let ip1div2 = (i + 1) / 2;
        let ip1mod2 = (i + 1) % 2;
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// P(D_n ≤ d) by Pomeranz's recursion: 2n+1 convolutions of a row with Poisson-like weights,
/// rescaled against underflow, times n!.
fn pomeranz_cdf(n: u64, x: f64) -> NpScalar {
    let ni = n as i64;
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![0.0f64; npwrs];
    let mut twogpower = vec![0.0f64; npwrs];
    let mut onem2gpower = vec![0.0f64; npwrs];
    gpower[0] = 1.0;
    twogpower[0] = 1.0;
    onem2gpower[0] = 1.0;
    let (g_n, two_g_n, one_m2g_n) = (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for m in 1..npwrs {
        gpower[m] = gpower[m - 1] * g_n / m as f64;
        twogpower[m] = twogpower[m - 1] * two_g_n / m as f64;
        onem2gpower[m] = onem2gpower[m - 1] * one_m2g_n / m as f64;
    }
    let mut v0 = vec![0.0f64; npwrs];
    let mut v1 = vec![0.0f64; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt: i64 = 0;
    let (mut j1, _) = pomeranz_j1j2(0, ni, ll, ceilf, roundf);
    for i in 1..(2 * ni + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|v| *v = 0.0);
        let (nj1, nj2) = pomeranz_j1j2(i, ni, ll, ceilf, roundf);
        j1 = nj1;
        let j2 = nj2;
        let pwrs = if i == 1 || i == 2 * ni + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            // conv = convolve(V0[k1-V0s .. +ln2], pwrs[..ln2]); keep conv[j1-k1 .. j2-k1].
            let start = k1 - v0s;
            let a_len = ln2.min(npwrs as i64 - start).max(0) as usize;
            let b_len = (ln2 as usize).min(npwrs);
            let conv_start = j1 - k1;
            let conv_len = j2 - j1 + 1;
            // np.convolve puts the longer operand first and sums each output with BLAS ddot.
            let (long_is_a, la, lb) = if b_len > a_len { (false, b_len, a_len) } else { (true, a_len, b_len) };
            let mut vmax = 0.0f64;
            for c in 0..conv_len.max(0) {
                let idx = conv_start + c; // index into the full convolution
                let lo = (idx - lb as i64 + 1).max(0);
                let hi = idx.min(la as i64 - 1);
                let len = (hi - lo + 1).max(0) as usize;
                let s = openblas_ddot(len, |t| {
                    let i = lo + t as i64; // index into the longer operand, ascending
                    let (ia, ib) = if long_is_a { (i, idx - i) } else { (idx - i, i) };
                    (v0[(start + ia) as usize], pwrs[ib as usize])
                });
                if let Some(slot) = v1.get_mut(c as usize) {
                    *slot = s;
                }
                vmax = vmax.max(s);
            }
            if vmax > 0.0 && vmax < em128() {
                let s = ep128();
                v1.iter_mut().for_each(|v| *v *= s);
                expnt -= E128 as i64;
            }
            v1s = v0s + j1 - k1;
        }
    }
    // Multiply by n!: a double until the first rescaling by a long double 2^-128.
    let mut ans = NpScalar::F64(v1.get((ni - v1s).max(0) as usize).copied().unwrap_or(0.0));
    for m in 1..=n {
        if ans.abs() > ep128() {
            ans = ans.scale_long(-E128);
            expnt += E128 as i64;
        }
        ans = ans.mul(m as f64);
    }
    if expnt != 0 {
        ans = ans.ldexp(expnt);
    }
    ans.clip01()
}

/// Σ x_t·y_t in the order of OpenBLAS's `ddot` for Haswell-class CPUs, which numpy's
/// `convolve` calls (and so scipy's Pomeranz recursion): blocks of 16 terms into four 4-lane
/// fused multiply-add accumulators, reduced pairwise, then the remaining terms one by one.
/// Reproducing the order reproduces scipy's p-values to the last bit on such machines; any order
/// would do to 1e-12 except close to n·d² = 4, where 1 − CDF amplifies the CDF's rounding.
fn openblas_ddot(len: usize, term: impl Fn(usize) -> (f64, f64)) -> f64 {
    let n1 = len & !15;
    let mut dot = 0.0f64;
    if n1 > 0 {
        let mut acc = [[0.0f64; 4]; 4];
        for base in (0..n1).step_by(16) {
            for (r, lanes) in acc.iter_mut().enumerate() {
                for (l, lane) in lanes.iter_mut().enumerate() {
                    let (x, y) = term(base + 4 * r + l);
                    *lane = x.mul_add(y, *lane);
                }
            }
        }
        let halves = acc.map(|a| [a[0] + a[2], a[1] + a[3]]);
        let q = [halves[0][0] + halves[1][0], halves[0][1] + halves[1][1]];
        let w = [halves[2][0] + halves[3][0], halves[2][1] + halves[3][1]];
        dot = (q[0] + w[0]) + (q[1] + w[1]);
    }
    for t in n1..len {
        let (x, y) = term(t);
        dot += y * x;
    }
    dot
}

/// The Pelz–Good approximation of P(D_n ≤ x): the Li-Chien/Korolyuk expansion in 1/√n,
/// each term transformed with Jacobi's theta-function identity into a series that converges
/// fast for small z = x√n.
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let pi2 = PI.powf(2.0);
    let pi4 = PI.powf(4.0);
    let pi6 = PI.powf(6.0);
    let sqrt2pi = (2.0 * PI).sqrt();
    let sqrt3 = 3.0f64.sqrt();

    let z = nf.sqrt() * x;
    let (z2, z3, z4, z6) = (z.powf(2.0), z.powf(3.0), z.powf(4.0), z.powf(6.0));
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();

    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powf(8.0);

    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m * m * m * m, m * m * m * m * m * m);
        let qpower = q.powf((8 * kk) as f64);
        let coeffs = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
        for (ki, ci) in k.iter_mut().zip(coeffs) {
            *ki *= qpower;
            *ki += ci;
        }
    }
    let divisors = [z, 6.0 * z4, 72.0 * z.powf(7.0), 6480.0 * z.powf(10.0)];
    for (ki, di) in k.iter_mut().zip(divisors) {
        *ki *= q;
        *ki *= sqrt2pi;
        *ki /= di;
    }

    let q = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = sqrt3 * z;
    let mut k2extra = 0.0;
    let mut k3extra = 0.0;
    for kk in (1..=maxk).rev() {
        let ksq = (kk * kk) as f64;
        let kspi = PI * kk as f64;
        let qp = q.powf(ksq);
        k2extra += ksq * qp;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
    }
    k2extra *= pi2 * sqrt2pi / (-36.0 * z3);
    k[2] += k2extra;
    k3extra *= pi2 * sqrt2pi / (216.0 * z6);
    k[3] += k3extra;
    let powers = [1.0, nf.powf(0.5), nf, nf.powf(1.5)];
    let mut sum = 0.0;
    for (ki, pi) in k.iter().zip(powers) {
        sum += ki / pi;
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// Smirnov's one-sided distribution.

/// floor(n·x) and the fractional part, computed exactly in double-double.
fn mod_nx(n: i64, x: f64) -> (f64, i64) {
    let nx = DD::new(x) * n as f64;
    let fl = nx.floor();
    let alpha = (nx - fl).hi;
    let mut nxfloor = fl.hi as i64;
    let mut alpha = alpha;
    if alpha == 1.0 {
        nxfloor += 1;
        alpha = 0.0;
    }
    (alpha, nxfloor)
}

/// `a^m` with a in double-double: the double power of the high word, corrected for the low one.
fn pow_dd(a: DD, m: i64) -> DD {
    if m <= 0 {
        if m == 0 {
            return DD::ONE;
        }
        return DD::ONE / pow_dd(a, -m);
    }
    if a.is_zero() {
        return DD::ZERO;
    }
    let ans = a.hi.powf(m as f64);
    let r = a.lo / a.hi;
    let mut adj = m as f64 * r;
    if adj.abs() > 1e-8 {
        if adj.abs() < 1e-4 {
            adj += (m as f64 * r) * ((m - 1) as f64 / 2.0 * r);
        } else {
            adj = (m as f64 * r.ln_1p()).exp_m1();
        }
    }
    DD::new(ans) + ans * adj
}

fn pow2(a: f64, b: f64, m: i64) -> f64 {
    pow_dd(DD::new(a) + b, m).hi
}

/// C's `nextPowerOf2` as scipy writes it: |x + x·2^-52| (which, despite the name, is x rounded
/// up by one unit in the last place); used only to bound the exponent chunks below.
fn next_power_of_2(x: f64) -> f64 {
    let q = ldexp(x, 1 - 53);
    let l = (q + x).abs();
    if l == 0.0 { x.abs() } else { l }
}

/// `a^m = mantissa · 2^exponent`, splitting the power so no intermediate underflows.
fn pow_dd_scaled(a: DD, m: i64) -> (DD, i64) {
    if m <= 0 {
        if m == 0 {
            return (DD::ONE, 0);
        }
        let (ans, e1) = pow_dd_scaled(a, -m);
        let (ans, e2) = (DD::ONE / ans).frexp();
        return (ans, -e1 + e2 as i64);
    }
    let (y, ye) = a.frexp();
    let ye = ye as i64;
    if m == 1 {
        return (y, ye);
    }
    let mut max_expt = SM_MAX_EXPONENT as i64;
    if m as f64 * (y.hi - 1.0) / y.hi < -(SM_MAX_EXPONENT as f64) * std::f64::consts::LN_2 {
        let lg2y = y.hi.ln() / std::f64::consts::LN_2;
        let lg_ans = m as f64 * lg2y;
        if lg_ans <= -(SM_MAX_EXPONENT as f64) {
            max_expt = (next_power_of_2(-(SM_MAX_EXPONENT as f64) / lg2y + 1.0) / 2.0) as i64;
        }
    }
    if m <= max_expt {
        let ans1 = pow_dd(y, m);
        let (ans, ae) = ans1.frexp();
        return (ans, ae as i64 + m * ye);
    }
    let q = m / max_expt;
    let r = m % max_expt;
    let (y2r, y2r_e) = pow_dd_scaled(y, r);
    let (y2m, y2m_e) = pow_dd_scaled(y, max_expt);
    let (y2mq, y2mq_e) = pow_dd_scaled(y2m, q);
    let (ans, ans_e) = (y2r * y2mq).frexp();
    (ans, ans_e as i64 + (y2mq_e + y2m_e * q) + y2r_e + m * ye)
}

/// ((a + b)/(c + d))^m in double-double.
fn pow4_dd(a: f64, b: f64, c: f64, d: f64, m: i64) -> DD {
    if m <= 0 {
        if m == 0 {
            return DD::ONE;
        }
        return pow4_dd(c, d, a, b, -m);
    }
    let aa = DD::new(a) + b;
    let cc = DD::new(c) + d;
    if aa.is_zero() {
        return if cc.is_zero() { DD::new(f64::NAN) } else { DD::ZERO };
    }
    if cc.is_zero() {
        return DD::new(if aa.hi < 0.0 { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    pow_dd(aa / cc, m)
}

/// One term C(n,v) (x + v/n)^{v−1} (1 − x − v/n)^{n−v} of the Birnbaum–Tingey sum, with the
/// binomial coefficient given as a double-double mantissa and a binary exponent.
fn compute_av(n: i64, x: f64, v: i64, cman: DD, cexpt: i64) -> DD {
    let nf = n as f64;
    let t2x = DD::new((n - v) as f64) / nf - x;
    let (t2, t2e) = pow_dd_scaled(t2x, n - v);
    let t1x = DD::new(v as f64) / nf + x;
    let (t1, t1e) = pow_dd_scaled(t1x, v - 1);
    let ans = t1 * t2 * cman;
    let e = (cexpt + t1e + t2e).clamp(-100_000, 100_000) as i32;
    ans.ldexp(e)
}

/// C(n, j+1) from C(n, j), kept as a mantissa in [0.5, 1) and an exponent.
fn update_binomial(cman: &mut DD, cexpt: &mut i64, n: i64, j: i64) {
    let rat = DD::new((n - j) as f64) / (j as f64 + 1.0);
    let (man, e) = (*cman * rat).frexp();
    *cexpt += e as i64;
    *cman = man;
}

/// scipy.special.smirnov(n, x): P(D⁺_n ≥ x) for the one-sided one-sample statistic.
pub(crate) fn smirnov_sf(n: u64, x: f64) -> f64 {
    let n = n as i64;
    if !(n > 0 && (0.0..=1.0).contains(&x)) {
        return f64::NAN;
    }
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let (alpha, nxfl) = mod_nx(n, x);
    let mut n1mxfl = n - nxfl - if alpha == 0.0 { 0 } else { 1 };
    let mut n1mxceil = n - nxfl;
    if alpha == 0.0 {
        n1mxfl -= 1;
        n1mxceil += 1;
    }
    // x <= 1/n
    if nxfl == 0 || (nxfl == 1 && alpha == 0.0) {
        let t = pow2(1.0, x, n - 1);
        let cdf = x * t;
        return clip(1.0 - cdf);
    }
    if -2.0 * nf * x * x < MINLOG {
        return 0.0;
    }
    // x >= 1 − 1/n
    if nxfl >= n - 1 {
        return clip(pow2(1.0, -x, n));
    }
    if n > SMIRNOV_MAX_COMPUTE_N {
        let logp = -(6.0 * nf * x + 1.0).powf(2.0) / 18.0 / nf;
        let sf = if logp < -std::f64::consts::LN_2 { logp.exp() } else { 1.0 - (-logp.exp_m1()) };
        return clip(sf);
    }
    let n_upper_terms = n - n1mxceil + 1;
    let use_upper = (n_upper_terms <= 1 && x < 0.5)
        || (n >= SM_UPPERSUM_MIN_N && n_upper_terms <= SM_UPPER_MAX_TERMS && x <= 0.5 / nf.sqrt());

    let (start, step, n_terms) = if use_upper { (n, -1i64, n - n1mxceil + 1) } else { (0, 1, n1mxfl + 1) };
    let vmid = n / 2;
    let mut cman = DD::ONE;
    let mut cexpt: i64 = 0;
    let first = if use_upper { pow4_dd(1.0, x, 1.0, 0.0, n - 1) } else { pow4_dd(1.0, -x, 1.0, 0.0, n) / x };
    let mut sum = DD::ZERO + first;
    update_binomial(&mut cman, &mut cexpt, n, 0);
    let mut j = 1;
    while j < n_terms {
        let v = start + j * step;
        let aj = compute_av(n, x, v, cman, cexpt);
        if aj.is_finite() && !aj.is_zero() {
            sum = sum + aj;
        }
        if !aj.is_zero() {
            if (4 * (n_terms - j)) as f64 * aj.hi.abs() < f64::EPSILON * sum.hi && j != n_terms - 1 {
                break;
            }
        } else if j > vmid {
            break;
        }
        update_binomial(&mut cman, &mut cexpt, n, j);
        j += 1;
    }
    let prob = (sum * x).hi;
    let sf = if step < 0 { 1.0 - prob } else { prob };
    clip(sf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        if a == b { 0.0 } else { (a - b).abs() / a.abs().max(b.abs()) }
    }

    #[test]
    fn hand_values() {
        // n = 1: D_1 = max(U, 1 − U) ≥ d with probability 2(1 − d) for d ≥ 1/2.
        assert!(rel(kstwo_sf(0.75, 1), 0.5) < 1e-15);
        // smirnov(1, x) = 1 − x; smirnov(n, 0) = 1.
        assert_eq!(smirnov_sf(1, 0.25), 0.75);
        assert_eq!(smirnov_sf(5, 0.0), 1.0);
        // P(D_n ≥ d) → 0 at d → 1 and 1 below 1/(2n).
        assert_eq!(kstwo_sf(1.0, 10), 0.0);
        assert_eq!(kstwo_sf(0.04, 10), 1.0);
    }

    /// Against scipy.special.smirnov over a grid of (n, x) (tests/reference/rank_tests.json).
    #[test]
    fn smirnov_matches_scipy() {
        let json = super::super::tests_support::reference();
        let rows = json["smirnov"].as_array().expect("smirnov grid");
        let mut worst = (0.0, String::new());
        for row in rows {
            let n = row[0].as_u64().unwrap();
            let x = f64::from_bits(row[1].as_u64().unwrap());
            let want = row[2].as_f64().unwrap();
            let got = smirnov_sf(n, x);
            if want < 1e-300 {
                assert!(got < 1e-290, "smirnov({n}, {x}) = {got:e}, scipy {want:e}");
                continue;
            }
            let r = rel(got, want);
            if r > worst.0 {
                worst = (r, format!("smirnov({n}, {x}) = {got:e}, scipy {want:e}"));
            }
        }
        assert!(worst.0 <= 1e-12, "worst: {} ({:e})", worst.1, worst.0);
    }
}
