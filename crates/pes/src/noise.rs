//! Antithetic Gaussian perturbations (paper §3: `ε ~ N(0, σ²I)`, used in pairs `±ε`).
//!
//! Perturbations come from a host generator seeded by `(seed, call)`, so a resumed run
//! draws exactly the numbers an uninterrupted one would.

use crate::error::{PesError, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

/// `n × dim` perturbations (row-major, f64): rows `0..n/2` are `σ·z`, rows `n/2..n` their
/// negation. `n` must be even.
pub fn antithetic(n: usize, dim: usize, sigma: f64, seed: u64, call: u64) -> Result<Vec<f64>> {
    if n == 0 || !n.is_multiple_of(2) {
        return Err(PesError::Config(format!(
            "the number of particles must be even and positive (antithetic pairs), got {n}"
        )));
    }
    if !(sigma > 0.0 && sigma.is_finite()) {
        return Err(PesError::Config(format!("σ must be positive, got {sigma}")));
    }
    let mut rng = StdRng::seed_from_u64(mix(seed, call));
    let normal = Normal::new(0.0, sigma).expect("σ > 0");
    let half = n / 2 * dim;
    let mut eps = vec![0.0; n * dim];
    for i in 0..half {
        let e = normal.sample(&mut rng);
        eps[i] = e;
        eps[half + i] = -e;
    }
    Ok(eps)
}

/// Rows `θ + ε_i` (row-major).
pub fn perturbed(theta: &[f64], eps: &[f64]) -> Vec<f64> {
    let d = theta.len();
    eps.iter().enumerate().map(|(j, e)| theta[j % d] + e).collect()
}

/// SplitMix64 of the pair, so that neighbouring calls get unrelated streams.
pub fn mix(seed: u64, call: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(call.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_exact_negations_and_reproducible() {
        let e = antithetic(6, 2, 0.1, 3, 7).unwrap();
        for i in 0..6 {
            assert_eq!(e[i], -e[6 + i]);
        }
        assert_eq!(e, antithetic(6, 2, 0.1, 3, 7).unwrap());
        assert_ne!(e, antithetic(6, 2, 0.1, 3, 8).unwrap());
        assert!(antithetic(5, 2, 0.1, 3, 7).is_err());
    }
}
