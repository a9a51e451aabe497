//! scipy's `special.binom` for non-negative integer arguments, reproduced operation by operation
//! (the Cephes Gamma, reciprocal Gamma, log-Gamma and Beta functions it rests on).
//!
//! The exact one-sided two-sample KS p-value (Hodges' path count) is a sum of products of
//! binomial coefficients with cancellation; scipy evaluates it in doubles with `special.binom`,
//! whose relative error reaches 1e-12 for arguments in the hundreds, and decides from the
//! computed numbers whether to fall back to the asymptotic formula. Matching scipy there means
//! computing the same doubles, so this is a faithful port (same polynomials, same order of
//! operations, the platform `exp`/`log`/`pow`), restricted to the arguments the test uses.
//!
//! The normal tail of the asymptotic p-values is [`crate::distributions::normal_sf`].

// The published coefficients are kept digit for digit.
#![allow(clippy::excessive_precision)]

/// Largest x with a finite Gamma(x).
const MAXGAM: f64 = 171.624376956302725;
/// log(sqrt(2 pi)).
const LS2PI: f64 = 0.91893853320467274178;
const SQRT2PI: f64 = 2.506628274631000502415765284811045253007;
const MAXLGM: f64 = 2.556348e305;
const MAXSTIR: f64 = 143.01608;
const MAXLOG: f64 = 7.097827128933839730962063185871E2;

const GAMMA_P: [f64; 7] = [
    1.60119522476751861407E-4,
    1.19135147006586384913E-3,
    1.04213797561761569935E-2,
    4.76367800457137231464E-2,
    2.07448227648435975150E-1,
    4.94214826801497100753E-1,
    9.99999999999999996796E-1,
];
const GAMMA_Q: [f64; 8] = [
    -2.31581873324120129819E-5,
    5.39605580493303397842E-4,
    -4.45641913851797240494E-3,
    1.18139785222060435552E-2,
    3.58236398605498653373E-2,
    -2.34591795718243348568E-1,
    7.14304917030273074085E-2,
    1.00000000000000000320E0,
];
const GAMMA_STIR: [f64; 5] = [
    7.87311395793093628397E-4,
    -2.29549961613378126380E-4,
    -2.68132617805781232825E-3,
    3.47222221605458667310E-3,
    8.33333333333482257126E-2,
];
const GAMMA_A: [f64; 5] = [
    8.11614167470508450300E-4,
    -5.95061904284301438324E-4,
    7.93650340457716943945E-4,
    -2.77777777730099687205E-3,
    8.33333333333331927722E-2,
];
const GAMMA_B: [f64; 6] = [
    -1.37825152569120859100E3,
    -3.88016315134637840924E4,
    -3.31612992738871184744E5,
    -1.16237097492762307383E6,
    -1.72173700820839662146E6,
    -8.53555664245765465627E5,
];
const GAMMA_C: [f64; 6] = [
    -3.51815701436523470549E2,
    -1.70642106651881159223E4,
    -2.20528590553854454839E5,
    -1.13933444367982507207E6,
    -2.53252307177582951285E6,
    -2.01889141433532773231E6,
];
const RGAMMA_R: [f64; 16] = [
    3.13173458231230000000E-17,
    -6.70718606477908000000E-16,
    2.20039078172259550000E-15,
    2.47691630348254132600E-13,
    -6.60074100411295197440E-12,
    5.13850186324226978840E-11,
    1.08965386454418662084E-9,
    -3.33964630686836942556E-8,
    2.68975996440595483619E-7,
    2.96001177518801696639E-6,
    -8.04814124978471142852E-5,
    4.16609138709688864714E-4,
    5.06579864028608725080E-3,
    -6.41925436109158228810E-2,
    -4.98558728684003594785E-3,
    1.27546015610523951063E-1,
];

/// Horner: c[0] x^N + … + c[N].
fn polevl(x: f64, c: &[f64]) -> f64 {
    let mut ans = c[0];
    for &ci in &c[1..] {
        ans = ans * x + ci;
    }
    ans
}

/// Horner with an implicit leading coefficient 1.
fn p1evl(x: f64, c: &[f64]) -> f64 {
    let mut ans = x + c[0];
    for &ci in &c[1..] {
        ans = ans * x + ci;
    }
    ans
}

/// Clenshaw's recurrence for a Chebyshev series.
fn chbevl(x: f64, c: &[f64]) -> f64 {
    let mut b0 = c[0];
    let mut b1 = 0.0;
    let mut b2 = 0.0;
    for &ci in &c[1..] {
        b2 = b1;
        b1 = b0;
        b0 = x * b1 - b2 + ci;
    }
    0.5 * (b0 - b2)
}

/// Gamma by Stirling's formula, 33 <= x <= MAXGAM.
fn stirf(x: f64) -> f64 {
    if x >= MAXGAM {
        return f64::INFINITY;
    }
    let w = 1.0 / x;
    let w = 1.0 + w * polevl(w, &GAMMA_STIR);
    let mut y = x.exp();
    if x > MAXSTIR {
        let v = x.powf(0.5 * x - 0.25);
        y = v * (v / y);
    } else {
        y = x.powf(x - 0.5) / y;
    }
    SQRT2PI * y * w
}

/// Gamma(x) for x > 0.
fn gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return x;
    }
    if x > 33.0 {
        return stirf(x);
    }
    let mut x = x;
    let mut z = 1.0;
    while x >= 3.0 {
        x -= 1.0;
        z *= x;
    }
    while x < 2.0 {
        if x < 1e-9 {
            return z / ((1.0 + 0.5772156649015329 * x) * x);
        }
        z /= x;
        x += 1.0;
    }
    if x == 2.0 {
        return z;
    }
    x -= 2.0;
    let p = polevl(x, &GAMMA_P);
    let q = polevl(x, &GAMMA_Q);
    z * p / q
}

/// 1/Gamma(x) for x > 0.
fn rgamma(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    if x.abs() > 4.0 {
        return 1.0 / gamma(x);
    }
    let mut z = 1.0;
    let mut w = x;
    while w > 1.0 {
        w -= 1.0;
        z *= w;
    }
    while w < 0.0 {
        z /= w;
        w += 1.0;
    }
    if w == 0.0 {
        return 0.0;
    }
    if w == 1.0 {
        return 1.0 / z;
    }
    w * (1.0 + chbevl(4.0 * w - 2.0, &RGAMMA_R)) / z
}

fn lgam_large_x(x: f64) -> f64 {
    let q = (x - 0.5) * x.ln() - x + LS2PI;
    if x > 1.0e8 {
        return q;
    }
    let p = 1.0 / (x * x);
    let p = ((7.9365079365079365079365e-4 * p - 2.7777777777777777777778e-3) * p + 0.0833333333333333333333) / x;
    q + p
}

/// log|Gamma(x)| for x > 0.
fn lgam(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    if x <= 0.0 {
        return f64::INFINITY;
    }
    if x < 13.0 {
        let mut z = 1.0;
        let mut p = 0.0;
        let mut u = x;
        while u >= 3.0 {
            p -= 1.0;
            u = x + p;
            z *= u;
        }
        while u < 2.0 {
            if u == 0.0 {
                return f64::INFINITY;
            }
            z /= u;
            p += 1.0;
            u = x + p;
        }
        let z = z.abs();
        if u == 2.0 {
            return z.ln();
        }
        p -= 2.0;
        let x = x + p;
        let p = x * polevl(x, &GAMMA_B) / p1evl(x, &GAMMA_C);
        return z.ln() + p;
    }
    if x > MAXLGM {
        return f64::INFINITY;
    }
    if x >= 1000.0 {
        return lgam_large_x(x);
    }
    let q = (x - 0.5) * x.ln() - x + LS2PI;
    let p = 1.0 / (x * x);
    q + polevl(p, &GAMMA_A) / x
}

/// Asymptotic log Beta(a, b) for a much larger than b (both positive).
fn lbeta_asymp(a: f64, b: f64) -> f64 {
    let mut r = lgam(b);
    r -= b * a.ln();
    r += b * (1.0 - b) / (2.0 * a);
    r += b * (1.0 - b) * (1.0 - 2.0 * b) / (12.0 * a * a);
    r += -b * b * (1.0 - b) * (1.0 - b) / (12.0 * a * a * a);
    r
}

/// Beta(a, b) for a, b > 0.
fn beta(a: f64, b: f64) -> f64 {
    let (a, b) = if a.abs() < b.abs() { (b, a) } else { (a, b) };
    if a.abs() > 1e6 * b.abs() && a > 1e6 {
        return lbeta_asymp(a, b).exp();
    }
    let y = a + b;
    if y.abs() > MAXGAM || a.abs() > MAXGAM || b.abs() > MAXGAM {
        let mut y = lgam(y);
        y = lgam(b) - y;
        y += lgam(a);
        if y > MAXLOG {
            return f64::INFINITY;
        }
        return y.exp();
    }
    let y = rgamma(y);
    let a = gamma(a);
    let b = gamma(b);
    if y.is_infinite() {
        return f64::INFINITY;
    }
    if ((a * y).abs() - 1.0).abs() > ((b * y).abs() - 1.0).abs() {
        let y = b * y;
        y * a
    } else {
        let y = a * y;
        y * b
    }
}

/// scipy.special.binom(n, k) for integers 0 <= k <= n, as scipy computes it in doubles
/// (so `inf` when the coefficient exceeds the double range).
pub(crate) fn binom(n: u64, k: u64) -> f64 {
    let nf = n as f64;
    let k_orig = k as f64;
    let mut kx = k_orig;
    if kx > nf / 2.0 && nf > 0.0 {
        kx = nf - kx;
    }
    if kx < 20.0 {
        let mut num = 1.0f64;
        let mut den = 1.0f64;
        let steps = kx as u64;
        for i in 1..=steps {
            num *= i as f64 + nf - kx;
            den *= i as f64;
            if num.abs() > 1e50 {
                num /= den;
                den = 1.0;
            }
        }
        return num / den;
    }
    1.0 / (nf + 1.0) / beta(1.0 + nf - k_orig, 1.0 + k_orig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_binomials_are_exact() {
        assert_eq!(binom(5, 2), 10.0);
        assert_eq!(binom(0, 0), 1.0);
        assert_eq!(binom(10, 10), 1.0);
        assert_eq!(binom(52, 5), 2598960.0);
        assert!(binom(2000, 1000).is_infinite());
        assert!((gamma(5.0) - 24.0).abs() < 1e-13);
        assert!((lgam(100.0) - 359.13420536957540).abs() < 1e-12);
    }

    /// Bit-for-bit against scipy.special.binom (tests/reference/rank_tests.json, "binom").
    #[test]
    fn binom_matches_scipy_bit_for_bit() {
        let json = super::super::tests_support::reference();
        let rows = json["binom"].as_array().expect("binom grid");
        assert!(rows.len() > 100);
        let mut mismatches = Vec::new();
        for row in rows {
            let n = row[0].as_u64().unwrap();
            let k = row[1].as_u64().unwrap();
            let expected = f64::from_bits(row[2].as_u64().unwrap());
            let got = binom(n, k);
            if got.to_bits() != expected.to_bits() {
                mismatches.push(format!("binom({n}, {k}) = {got:e}, scipy {expected:e}"));
            }
        }
        assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
    }
}
