//! Fixed points of the eigenvalue dynamics and the collapse basin (paper Sec. 5, Fig. 3).
//!
//! Setting `ṗ = ṡ = 0` with `s ≠ 0` gives `(1+σ²)p² − τp + η = 0`, so
//! `p*± = (τ ± √(τ² − 4η(1+σ²))) / (2(1+σ²))` and `s* = η_p p*² / (α_p η)`. They exist iff
//! `η ≤ τ² / (4(1+σ²))`; otherwise every mode collapses to `(0, 0)`. `(p*+, s*+)` is stable,
//! `(p*−, s*−)` is a saddle whose stable manifold bounds the basin of the trivial (collapsed)
//! fixed point.

use super::ode::{Mode, OdeParams, final_states};
use serde::{Deserialize, Serialize};

/// The two non-trivial fixed points of one mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FixedPoints {
    /// Predictor eigenvalue of the saddle `p*−`.
    pub p_minus: f64,
    /// Eigenvalue of `F` at the saddle `s*−`.
    pub s_minus: f64,
    /// Predictor eigenvalue of the stable point `p*+`.
    pub p_plus: f64,
    /// Eigenvalue of `F` at the stable point `s*+`.
    pub s_plus: f64,
}

/// The largest weight decay that still admits non-trivial fixed points: `τ² / (4(1+σ²))`.
pub fn eta_threshold(tau: f64, sigma2: f64) -> f64 {
    tau * tau / (4.0 * (1.0 + sigma2))
}

/// Non-trivial fixed points for target ratio `tau` (1 without EMA), or `None` past the threshold.
pub fn fixed_points(params: &OdeParams, tau: f64) -> Option<FixedPoints> {
    let a = 1.0 + params.sigma2;
    let disc = tau * tau - 4.0 * params.eta * a;
    if disc < 0.0 || params.eta <= 0.0 {
        return None;
    }
    let root = disc.sqrt();
    let p_minus = (tau - root) / (2.0 * a);
    let p_plus = (tau + root) / (2.0 * a);
    let s = |p: f64| params.eta_p * p * p / (params.alpha_p * params.eta);
    Some(FixedPoints {
        p_minus,
        s_minus: s(p_minus),
        p_plus,
        s_plus: s(p_plus),
    })
}

/// Where a mode ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// `s` has decayed to (numerically) zero.
    Collapsed,
    /// `s` stays away from zero.
    Survived,
}

/// Classifies a final state: collapsed when `s < 1e-4 · max(1, s*+)`.
pub fn outcome(m: &Mode) -> Outcome {
    if m.s < 1e-4 {
        Outcome::Collapsed
    } else {
        Outcome::Survived
    }
}

/// Default horizon and step for basin computations.
pub const BASIN_T: f64 = 400.0;
/// RK4 step for basin computations.
pub const BASIN_DT: f64 = 0.05;

/// The smallest initial `s` from which a mode starting at `p0` (τ₀ = 1) survives, found by
/// bisection on `[0, s_max]`; `None` if it collapses even from `s_max`.
pub fn collapse_boundary(params: &OdeParams, p0: f64, s_max: f64, iters: usize) -> Option<f64> {
    let survives = |s0: f64| {
        let end = final_states(params, &[Mode::new(p0, s0)], BASIN_T, BASIN_DT)[0];
        outcome(&end) == Outcome::Survived
    };
    if !survives(s_max) {
        return None;
    }
    let (mut lo, mut hi) = (0.0, s_max);
    for _ in 0..iters {
        let mid = 0.5 * (lo + hi);
        if survives(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Fraction of a `n × n` grid of initial conditions on `[0, p_max] × [0, s_max]` that collapses.
pub fn basin_fraction(params: &OdeParams, p_max: f64, s_max: f64, n: usize) -> f64 {
    let grid = grid_modes(p_max, s_max, n);
    let ends = final_states(params, &grid, BASIN_T, BASIN_DT);
    ends.iter().filter(|m| outcome(m) == Outcome::Collapsed).count() as f64 / ends.len() as f64
}

/// Cell-centred `n × n` grid of initial modes, row-major with `s` the row (bottom first).
pub fn grid_modes(p_max: f64, s_max: f64, n: usize) -> Vec<Mode> {
    let mut v = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let p = (j as f64 + 0.5) / n as f64 * p_max;
            let s = (i as f64 + 0.5) / n as f64 * s_max;
            v.push(Mode::new(p, s));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_points_of_the_paper_example_and_threshold() {
        let params = OdeParams::simsiam(0.24);
        let fp = fixed_points(&params, 1.0).unwrap();
        assert!((fp.p_plus - 0.6).abs() < 1e-12 && (fp.s_plus - 0.36).abs() < 1e-12);
        assert!((fp.p_minus - 0.4).abs() < 1e-12 && (fp.s_minus - 0.16).abs() < 1e-12);
        assert!(fixed_points(&OdeParams::simsiam(0.26), 1.0).is_none());
        assert_eq!(eta_threshold(1.0, 0.0), 0.25);
        // Both are zeros of the vector field.
        for (p, s) in [(fp.p_plus, fp.s_plus), (fp.p_minus, fp.s_minus)] {
            let d = params.derivative(Mode::new(p, s));
            assert!(d.p.abs() < 1e-12 && d.s.abs() < 1e-12);
        }
    }
}
