//! Double-double arithmetic (an unevaluated sum `hi + lo` of two doubles, ~106 significant
//! bits), the error-free transformations of Dekker and Knuth as in Bailey's QD package.
//!
//! Used where scipy relies on double-double or `long double` to keep long products and sums
//! accurate: the one-sided Smirnov sum, and the `n!/nⁿ` scalings of the Kolmogorov
//! distribution algorithms.

use std::ops::{Add, Div, Mul, Neg, Sub};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DD {
    pub hi: f64,
    pub lo: f64,
}

/// `a + b` and its rounding error, for `|a| >= |b|`.
#[inline]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `a + b` and its rounding error.
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let c = s - a;
    let d = b - c;
    let e = s - c;
    (s, (a - e) + d)
}

/// `a * b` and its rounding error.
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

impl DD {
    pub const ZERO: DD = DD { hi: 0.0, lo: 0.0 };
    pub const ONE: DD = DD { hi: 1.0, lo: 0.0 };

    #[inline]
    pub fn new(x: f64) -> DD {
        DD { hi: x, lo: 0.0 }
    }

    pub fn is_finite(self) -> bool {
        self.hi.is_finite()
    }

    pub fn is_zero(self) -> bool {
        self.hi == 0.0 && self.lo == 0.0
    }

    /// `self * 2^e`, exactly.
    pub fn ldexp(self, e: i32) -> DD {
        DD { hi: ldexp(self.hi, e), lo: ldexp(self.lo, e) }
    }

    /// A mantissa in [0.5, 1) (or exactly ±1 with an opposite-signed low word) and exponent.
    pub fn frexp(self) -> (DD, i32) {
        let (mut man, mut e) = frexp(self.hi);
        let mut b1 = ldexp(self.lo, -e);
        if man.abs() == 0.5 && man * b1 < 0.0 {
            man *= 2.0;
            b1 *= 2.0;
            e -= 1;
        }
        (DD { hi: man, lo: b1 }, e)
    }

    pub fn floor(self) -> DD {
        let hi = self.hi.floor();
        if hi == self.hi {
            let (s, e) = quick_two_sum(hi, self.lo.floor());
            DD { hi: s, lo: e }
        } else {
            DD { hi, lo: 0.0 }
        }
    }
}

impl Neg for DD {
    type Output = DD;
    fn neg(self) -> DD {
        DD { hi: -self.hi, lo: -self.lo }
    }
}

impl Add for DD {
    type Output = DD;
    fn add(self, rhs: DD) -> DD {
        let (s1, s2) = two_sum(self.hi, rhs.hi);
        let (t1, t2) = two_sum(self.lo, rhs.lo);
        let (s1, s2) = quick_two_sum(s1, s2 + t1);
        let (s1, s2) = quick_two_sum(s1, s2 + t2);
        DD { hi: s1, lo: s2 }
    }
}

impl Add<f64> for DD {
    type Output = DD;
    fn add(self, rhs: f64) -> DD {
        let (s1, s2) = two_sum(self.hi, rhs);
        let (s1, s2) = quick_two_sum(s1, s2 + self.lo);
        DD { hi: s1, lo: s2 }
    }
}

impl Sub for DD {
    type Output = DD;
    fn sub(self, rhs: DD) -> DD {
        self + (-rhs)
    }
}

impl Sub<f64> for DD {
    type Output = DD;
    fn sub(self, rhs: f64) -> DD {
        self + (-rhs)
    }
}

impl Mul for DD {
    type Output = DD;
    fn mul(self, rhs: DD) -> DD {
        let (p1, p2) = two_prod(self.hi, rhs.hi);
        let p2 = p2 + (self.hi * rhs.lo + self.lo * rhs.hi);
        let (p1, p2) = quick_two_sum(p1, p2);
        DD { hi: p1, lo: p2 }
    }
}

impl Mul<f64> for DD {
    type Output = DD;
    fn mul(self, rhs: f64) -> DD {
        let (p1, e1) = two_prod(self.hi, rhs);
        let (p2, e2) = two_prod(self.lo, rhs);
        let (p1, e1) = quick_two_sum(p1, e2 + p2 + e1);
        DD { hi: p1, lo: e1 }
    }
}

impl Div for DD {
    type Output = DD;
    fn div(self, rhs: DD) -> DD {
        let q1 = self.hi / rhs.hi;
        let r = self - rhs * q1;
        let q2 = r.hi / rhs.hi;
        let r = r - rhs * q2;
        let q3 = r.hi / rhs.hi;
        let (q1, q2) = quick_two_sum(q1, q2);
        DD { hi: q1, lo: q2 } + q3
    }
}

impl Div<f64> for DD {
    type Output = DD;
    fn div(self, rhs: f64) -> DD {
        self / DD::new(rhs)
    }
}

/// Rounds the exact value `hi + lo` to 64 significant bits, ties to even: the result of an x87
/// `long double` operation whose exact result is `x`.
fn round_to_extended(x: DD) -> DD {
    if x.hi == 0.0 || !x.hi.is_finite() || x.lo == 0.0 {
        return x;
    }
    let (m, mut e) = frexp(x.hi);
    if m.abs() == 0.5 && (m < 0.0) != (x.lo < 0.0) {
        e -= 1; // the value lies just below a power of two
    }
    let ulp = ldexp(1.0, e - 64);
    if ulp == 0.0 {
        return x;
    }
    let lo = (x.lo / ulp).round_ties_even() * ulp;
    let (hi, lo) = quick_two_sum(x.hi, lo);
    DD { hi, lo }
}

/// A numpy scalar as scipy's Kolmogorov code sees it: a `float64` that turns into a
/// `long double` (x87, 64-bit significand) the first time it is multiplied by a `long double`
/// scale factor, after which every operation rounds to 64 bits. Emulated exactly in
/// double-double, so scipy's roundings — which its p-values near 1 − 10⁻³ amplify a thousandfold
/// — are reproduced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NpScalar {
    F64(f64),
    Long(DD),
}

impl NpScalar {
    /// |value| as a double (for comparisons against powers of two).
    pub fn abs(self) -> f64 {
        match self {
            NpScalar::F64(x) => x.abs(),
            NpScalar::Long(x) => x.hi.abs(),
        }
    }

    /// `self * k` for an integer-valued double `k` (below 2^11, so the product is exact in
    /// double-double before rounding).
    pub fn mul(self, k: f64) -> NpScalar {
        match self {
            NpScalar::F64(x) => NpScalar::F64(x * k),
            NpScalar::Long(x) => NpScalar::Long(round_to_extended(x * k)),
        }
    }

    /// `self / k`.
    pub fn div(self, k: f64) -> NpScalar {
        match self {
            NpScalar::F64(x) => NpScalar::F64(x / k),
            NpScalar::Long(x) => NpScalar::Long(round_to_extended(x / k)),
        }
    }

    /// Multiplies by the `long double` 2^e (exact), which makes the scalar a `long double`.
    pub fn scale_long(self, e: i32) -> NpScalar {
        match self {
            NpScalar::F64(x) => NpScalar::Long(DD::new(x).ldexp(e)),
            NpScalar::Long(x) => NpScalar::Long(x.ldexp(e)),
        }
    }

    /// `ldexp(self, e)` in the scalar's own type.
    pub fn ldexp(self, e: i64) -> NpScalar {
        let e = e.clamp(-100_000, 100_000) as i32;
        match self {
            NpScalar::F64(x) => NpScalar::F64(ldexp(x, e)),
            NpScalar::Long(x) => NpScalar::Long(x.ldexp(e)),
        }
    }

    /// clip(self, 0, 1).
    pub fn clip01(self) -> NpScalar {
        match self {
            NpScalar::F64(x) => NpScalar::F64(x.clamp(0.0, 1.0)),
            NpScalar::Long(x) => {
                if x.hi < 0.0 || (x.hi == 0.0 && x.lo < 0.0) {
                    NpScalar::Long(DD::ZERO)
                } else if x.hi > 1.0 || (x.hi == 1.0 && x.lo > 0.0) {
                    NpScalar::Long(DD::ONE)
                } else {
                    NpScalar::Long(x)
                }
            }
        }
    }

    /// `1 - self`, rounded to a double at the end (as scipy's result array is float64).
    pub fn one_minus(self) -> f64 {
        match self {
            NpScalar::F64(x) => 1.0 - x,
            NpScalar::Long(x) => {
                let r = round_to_extended(DD::ONE - x);
                r.hi + r.lo
            }
        }
    }

    /// The value rounded to a double.
    #[cfg(test)]
    pub fn to_f64(self) -> f64 {
        match self {
            NpScalar::F64(x) => x,
            NpScalar::Long(x) => x.hi + x.lo,
        }
    }
}

/// `x * 2^e` for any exponent (C's `ldexp`; a result in the subnormal range may be rounded
/// twice, which only matters below 2^-1022).
pub(crate) fn ldexp(x: f64, e: i32) -> f64 {
    let pow2 = |k: i32| f64::from_bits(((1023 + k) as u64) << 52);
    let mut x = x;
    let mut e = e;
    while e > 1023 && x.is_finite() && x != 0.0 {
        x *= pow2(1023);
        e -= 1023;
    }
    while e < -1022 && x.is_finite() && x != 0.0 {
        x *= pow2(-1022);
        e += 1022;
    }
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    x * pow2(e.clamp(-1022, 1023))
}

/// The C `frexp`: `x = m * 2^e` with `0.5 <= |m| < 1` (and `(0, 0)` for zero).
pub(crate) fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_field = ((bits >> 52) & 0x7ff) as i32;
    if exp_field == 0 {
        // Subnormal: normalise first.
        let (m, e) = frexp(x * f64::from_bits(((1023 + 64) as u64) << 52));
        return (m, e - 64);
    }
    let e = exp_field - 1022;
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_and_ldexp() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(-0.75), (-0.75, 0));
        assert_eq!(frexp(5e-324), (0.5, -1073));
        assert_eq!(ldexp(0.5, -1073), 5e-324);
        assert_eq!(ldexp(0.75, 1024), 0.75 * 2f64.powi(1023) * 2.0);
        assert_eq!(ldexp(1.0, 2000), f64::INFINITY);
        assert_eq!(ldexp(1.0, -2000), 0.0);
        assert_eq!(ldexp(3.0, -1074), 3.0 * 5e-324);
        for &x in &[1.0, 3.5, -1e300, 1e-310, 123456.789] {
            let (m, e) = frexp(x);
            assert_eq!(ldexp(m, e), x);
        }
    }

    #[test]
    fn long_double_emulation_rounds_to_64_bits() {
        // 1 + 2^-70 is 1 in long double; 1 + 2^-60 is kept.
        let x = NpScalar::Long(DD::ONE).mul(1.0);
        assert_eq!(x.to_f64(), 1.0);
        let y = round_to_extended(DD::ONE + 2f64.powi(-70));
        assert_eq!((y.hi, y.lo), (1.0, 0.0));
        let z = round_to_extended(DD::ONE + 2f64.powi(-60));
        assert_eq!((z.hi, z.lo), (1.0, 2f64.powi(-60)));
        // Ties go to even: 1 + 2^-64 (half an ulp of the 64-bit significand) rounds down.
        let t = round_to_extended(DD::ONE + 2f64.powi(-64));
        assert_eq!((t.hi, t.lo), (1.0, 0.0));
        let third = NpScalar::F64(1.0).scale_long(0).div(3.0);
        assert_eq!(third.one_minus(), 2.0 / 3.0);
    }

    #[test]
    fn double_double_is_more_precise() {
        // (1 + 2^-60) - 1 is lost in doubles but kept in double-double.
        let a = DD::ONE + 2f64.powi(-60);
        let d = a - 1.0;
        assert_eq!(d.hi, 2f64.powi(-60));
        let third = DD::ONE / 3.0;
        let back = third * 3.0;
        assert!((back.hi - 1.0).abs() + back.lo.abs() < 1e-30);
        let x = DD::new(10.0) * DD::new(0.1);
        assert_eq!(x.hi, 1.0);
        assert_eq!(DD::new(2.5).floor().hi, 2.0);
        let (m, e) = DD::new(12.0).frexp();
        assert_eq!((m.hi, e), (0.75, 4));
    }
}
