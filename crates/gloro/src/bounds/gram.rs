//! A rigorous upper bound of the largest singular value of a matrix given in f64.
//!
//! For A (r × c) let G = AᵀA or AAᵀ, whichever is smaller (n × n, inner dimension m). Then
//! σ₁(A)² = λ_max(G) and
//!
//! 1. **Forming G.** The computed Ĝ satisfies |Ĝ − G| ≤ γ_m |A|ᵀ|A| entrywise, so
//!    ‖Ĝ − G‖₂ ≤ γ_m ‖|A|ᵀ|A|‖₂ ≤ γ_m ‖A‖_F² (Higham §3.5; ‖|B|‖₂ is monotone in |B|).
//!    Ĝ is symmetrised by copying one triangle, which keeps the entrywise bound.
//! 2. **Shifted Cholesky.** For a shift s, if Cholesky of M̂ = fl(sI − Ĝ) runs to completion,
//!    the computed factor satisfies R̂ᵀR̂ = M̂ + ΔM with |ΔM| ≤ γ_{n+1}|R̂ᵀ||R̂| (Higham
//!    Thm 10.3), so ‖ΔM‖₂ ≤ γ_{n+1}‖R̂‖_F². R̂ᵀR̂ is positive semidefinite, hence
//!    λ_min(M̂) ≥ −γ_{n+1}‖R̂‖_F². Forming the diagonal of M̂ rounds each entry once:
//!    ‖M̂ − (sI − Ĝ)‖₂ ≤ u·max|M̂ᵢᵢ|. Together λ_max(Ĝ) ≤ s + γ_{n+1}‖R̂‖_F² + u·max|M̂ᵢᵢ|.
//! 3. By Weyl's inequality λ_max(G) ≤ λ_max(Ĝ) + ‖Ĝ − G‖₂, and σ₁(A) is the square root of
//!    the sum, rounded upwards.
//!
//! The shift starts just above the eigensolver's λ_max(Ĝ) and is raised (up to +10 %) until
//! the factorisation succeeds; an eigensolver error therefore costs tightness, never
//! soundness. The bound is a proof for any input, converged or not; it fails closed (an
//! error) on non-finite entries or when no shift up to +10 % factorises.

use super::float::{U64, gamma64, sum_squares_up, up};
use nalgebra::DMatrix;

/// Relative shifts above the estimated λ_max tried in turn.
const SHIFTS: [f64; 6] = [1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1e-1];

/// A certified bound on σ₁ of one matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralBound {
    /// Proven upper bound of σ₁.
    pub upper: f64,
    /// The eigensolver's estimate √λ_max(Ĝ) (not a bound).
    pub estimate: f64,
}

/// Why no bound could be proven.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GramError {
    /// An entry of the matrix is NaN or infinite.
    #[error("the matrix has a non-finite entry")]
    NonFinite,
    /// The eigensolver returned a non-finite eigenvalue.
    #[error("the eigensolver returned a non-finite eigenvalue")]
    Eigensolver,
    /// Cholesky failed at every shift up to +10 % above the estimate.
    #[error("no shifted Cholesky factorisation succeeded up to 10 % above λ_max ≈ {0}")]
    NoCertificate(f64),
}

/// Proven upper bound of σ₁(`a`); see the module documentation.
pub fn spectral_norm_upper(a: &DMatrix<f64>) -> Result<SpectralBound, GramError> {
    if a.iter().any(|v| !v.is_finite()) {
        return Err(GramError::NonFinite);
    }
    let (r, c) = a.shape();
    if r == 0 || c == 0 {
        return Ok(SpectralBound {
            upper: 0.0,
            estimate: 0.0,
        });
    }
    let (mut g, inner) = if r >= c {
        (a.transpose() * a, r)
    } else {
        (a * a.transpose(), c)
    };
    let n = g.nrows();
    for j in 0..n {
        for i in 0..j {
            g[(i, j)] = g[(j, i)];
        }
    }
    let forming = up(gamma64(inner) * sum_squares_up(a.iter().copied()));
    certify_gram(&g, forming)
}

/// The steps 2–3 of the module documentation for a symmetric `g` whose distance from the exact
/// Gram matrix is at most `forming` in the spectral norm.
pub(crate) fn certify_gram(g: &DMatrix<f64>, forming: f64) -> Result<SpectralBound, GramError> {
    let n = g.nrows();
    let lambda = g.clone().symmetric_eigenvalues().max();
    if !lambda.is_finite() {
        return Err(GramError::Eigensolver);
    }
    let scale = lambda.max(g.diagonal().max()).max(f64::MIN_POSITIVE);
    for tau in SHIFTS {
        let s = lambda.max(0.0) + tau * scale;
        let mut m = -g.clone();
        for i in 0..n {
            m[(i, i)] += s;
        }
        let diag_err = U64 * m.diagonal().iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
        let Some(chol) = nalgebra::linalg::Cholesky::new(m) else {
            continue;
        };
        let l = chol.l();
        if l.iter().any(|v| !v.is_finite())
            || (0..n).any(|i| l[(i, i)].partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
        {
            continue;
        }
        let factor_err = up(gamma64(n + 1) * sum_squares_up(l.iter().copied()));
        let lambda_upper = up(up(s + factor_err + diag_err) + forming);
        return Ok(SpectralBound {
            upper: up(lambda_upper.sqrt()),
            estimate: lambda.max(0.0).sqrt(),
        });
    }
    Err(GramError::NoCertificate(lambda))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(r: usize, c: usize, seed: u64) -> DMatrix<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0))
    }

    #[test]
    fn bound_is_above_and_close_to_the_svd() {
        for (r, c, seed) in [(7, 3, 1), (3, 7, 2), (40, 40, 3), (1, 5, 4), (64, 17, 5)] {
            let a = random(r, c, seed);
            let exact = a.clone().svd(false, false).singular_values.max();
            let b = spectral_norm_upper(&a).unwrap();
            assert!(b.upper >= exact, "{r}x{c}: {} < {exact}", b.upper);
            assert!(b.upper <= exact * (1.0 + 1e-8), "{r}x{c}: {} vs {exact}", b.upper);
        }
    }

    #[test]
    fn flat_spectrum_with_a_tiny_gap_is_still_bounded() {
        // singular values 1 and 1 − 1e-9 and a bulk below: the hard case for iterative methods
        let q = random(30, 30, 9).qr().q();
        let mut s = DMatrix::<f64>::zeros(30, 30);
        for i in 0..30 {
            s[(i, i)] = match i {
                0 => 1.0,
                1 => 1.0 - 1e-9,
                _ => 0.99 - 0.01 * i as f64,
            };
        }
        let a = &q * s * q.transpose();
        let b = spectral_norm_upper(&a).unwrap();
        assert!(b.upper >= 1.0 && b.upper < 1.0 + 1e-8, "{}", b.upper);
    }

    #[test]
    fn fails_closed_on_non_finite_entries() {
        let mut a = random(4, 4, 7);
        a[(2, 1)] = f64::NAN;
        assert_eq!(spectral_norm_upper(&a), Err(GramError::NonFinite));
        a[(2, 1)] = f64::INFINITY;
        assert_eq!(spectral_norm_upper(&a), Err(GramError::NonFinite));
    }
}
