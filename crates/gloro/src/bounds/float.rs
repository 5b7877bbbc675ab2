//! Rounding-error constants and outward rounding for the sound bounds.
//!
//! Higham (*Accuracy and Stability of Numerical Algorithms*, §3.1): a sum of n products
//! computed in floating point with unit roundoff u, in any order and with or without fused
//! multiply-adds, differs from the exact sum by at most γ_n·Σ|aᵢbᵢ|, γ_n = nu/(1 − nu). Every
//! quantity of the certificate that is itself computed in f64 (norms, products of bounds) is
//! rounded outward with [`up`] or [`down`], which cover the few dozen f64 operations behind it.

/// Unit roundoff of f32 (round to nearest).
pub const U32: f64 = 1.0 / (1u64 << 24) as f64;
/// Unit roundoff of f64 (round to nearest).
pub const U64: f64 = f64::EPSILON / 2.0;
/// Smallest positive normal f32: the most an f32 product or sum can lose when a backend flushes
/// subnormal results to zero.
pub const F32_MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;

/// γ_n = nu/(1 − nu) for unit roundoff `u`; +∞ when nu ≥ 1 (no bound).
pub fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    if nu >= 1.0 {
        f64::INFINITY
    } else {
        up(nu / (1.0 - nu))
    }
}

/// γ_n for f32 arithmetic.
pub fn gamma32(n: usize) -> f64 {
    gamma(n, U32)
}

/// γ_n for f64 arithmetic.
pub fn gamma64(n: usize) -> f64 {
    gamma(n, U64)
}

/// Relative slack covering up to a thousand f64 operations (γ₁₀₀₀ ≈ 1.1·10⁻¹³).
const SLACK: f64 = 1e-12;

/// `x` rounded outward, upwards: ≥ the exact value of an expression whose f64 evaluation
/// (≤ 1000 operations, all terms of one sign) gave `x`. NaN stays NaN.
pub fn up(x: f64) -> f64 {
    if x >= 0.0 {
        (x * (1.0 + SLACK)).next_up()
    } else {
        (x * (1.0 - SLACK)).next_up()
    }
}

/// `x` rounded outward, downwards (see [`up`]).
pub fn down(x: f64) -> f64 {
    -up(-x)
}

/// An upper bound of Σ xᵢ² for values summed in f64 (exact squares of f32 or f64 inputs, any
/// order): the computed sum inflated by γ_{n+1}.
pub fn sum_squares_up(values: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0f64, 0usize);
    for v in values {
        s += v * v;
        n += 1;
    }
    up(s * (1.0 + 2.0 * gamma64(n + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outward_rounding_brackets_the_exact_sum() {
        // 0.1 + 0.2 is 0.30000000000000004 in f64; the exact decimal sum 0.3 lies between
        let s = 0.1f64 + 0.2;
        assert!(up(s) > s && down(s) < s);
        assert!(down(0.3) < 0.3 && up(0.3) > 0.3);
        assert!(up(-1.0) > -1.0 && down(-1.0) < -1.0);
        assert!(
            up(0.0) > 0.0,
            "a zero bound is rounded to the next positive number"
        );
        assert!(up(f64::NAN).is_nan());
    }

    #[test]
    fn gamma_grows_with_length_and_gives_up_past_one() {
        assert!(gamma32(10) > 10.0 * U32 && gamma32(10) < 10.1 * U32);
        assert!(gamma32(1 << 25).is_infinite());
        assert!(gamma64(3) < gamma32(3));
    }

    #[test]
    fn sum_of_squares_is_an_upper_bound() {
        // 10⁶ copies of 0.1: the f64 running sum drifts; the bound must stay above 10⁴
        let exact = 1e6 * 0.1f64 * 0.1; // 10⁴ up to one rounding
        let b = sum_squares_up(std::iter::repeat_n(0.1, 1_000_000));
        assert!(b >= exact * (1.0 + 1e-15), "{b} vs {exact}");
        assert!(b < exact * (1.0 + 1e-8));
    }
}
