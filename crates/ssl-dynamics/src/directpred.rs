//! DirectPred (paper Sec. 6, Eq. 18–19): set the linear predictor directly from the estimated
//! correlation of the online projector outputs instead of training it.
//!
//! - `F̂ ← ρ F̂ + (1 − ρ) E_B[f fᵀ]` over both views (the first batch initialises `F̂`).
//! - `F̂ = U diag(s) Uᵀ` (symmetric eigendecomposition in `f64`, `nalgebra::SymmetricEigen`).
//! - `p_j = √(s_j / max s) + ε` and `W_p = U diag(p) Uᵀ`.
//!
//! Variants: `p_j = s_j / max s + ε` ([`Formula::Linear`]), zero-mean `F̂ − μ̂μ̂ᵀ`
//! (`zero_mean`), and DirectCopy `W_p = F̂ + εI` without an eigendecomposition: as the reference
//! trainer (`predictor_reg: directcopy`) does, on the raw `F̂` ([`Formula::DirectCopyRaw`]), or
//! on `F̂` normalised by its Frobenius ([`Formula::DirectCopy`]) or spectral norm
//! ([`Formula::DirectCopySpectral`]). The cosine loss does not see the scale of `W_p`, so the
//! normalisation only decides how large `ε` is against `F̂`.

use crate::error::{Result, SslError};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// How `W_p` is computed from `F̂`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Formula {
    /// `p_j = √(s_j / max s) + ε` (the paper's default, `dyn_convert = 2`).
    Sqrt,
    /// `p_j = s_j / max s + ε` (`dyn_convert = 1`).
    Linear,
    /// DirectCopy: `W_p = F̂ / ‖F̂‖_F + εI`, no eigendecomposition.
    DirectCopy,
    /// DirectCopy: `W_p = F̂ / λ_max(F̂) + εI` (the scale of DirectPred's `s / max s`).
    DirectCopySpectral,
    /// DirectCopy as the reference trainer sets it: `W_p = F̂ + εI` (`dyn_eps` = `ε`).
    DirectCopyRaw,
}

impl Formula {
    /// Whether this is one of the DirectCopy forms (`W_p = F̂ + εI` after a normalisation).
    pub fn is_direct_copy(self) -> bool {
        matches!(
            self,
            Formula::DirectCopy | Formula::DirectCopySpectral | Formula::DirectCopyRaw
        )
    }
}

/// DirectPred settings (defaults: the README command of the reference code).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectPredConfig {
    /// Weight of the *old* estimate in the EMA of `F̂` (`dyn_lambda`).
    pub rho: f64,
    /// `ε` added to every `p_j` (`dyn_eps`).
    pub eps: f64,
    /// Set `W_p` every `freq` steps; in between the predictor is trained by SGD (if `freq > 1`).
    pub freq: usize,
    /// How `W_p`'s eigenvalues follow from `F̂`'s.
    pub formula: Formula,
    /// Decompose the covariance `F̂ − μ̂μ̂ᵀ` instead of the correlation.
    pub zero_mean: bool,
    /// Set `W_p` *before* the predictor is used in the step (the `byol-resnet18` benchmark),
    /// instead of after the optimiser step (the reference trainer).
    pub set_before_use: bool,
}

impl Default for DirectPredConfig {
    fn default() -> Self {
        Self {
            rho: 0.3,
            eps: 0.01,
            freq: 1,
            formula: Formula::Sqrt,
            zero_mean: false,
            set_before_use: false,
        }
    }
}

/// Running estimate of `F̂ = E[f fᵀ]` and of the mean `μ̂ = E[f]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorrelationEstimator {
    /// Weight of the old estimate.
    pub rho: f64,
    /// `F̂` (`None` before the first batch).
    pub corr: Option<DMatrix<f64>>,
    /// `μ̂` (`None` before the first batch).
    pub mean: Option<DVector<f64>>,
    /// Batches added.
    pub updates: usize,
}

impl CorrelationEstimator {
    /// An empty estimate with EMA weight `rho`.
    pub fn new(rho: f64) -> Self {
        Self {
            rho,
            ..Default::default()
        }
    }

    /// Adds one batch given its correlation `(1/N) Σ f fᵀ` and mean `(1/N) Σ f`.
    pub fn update(&mut self, batch_corr: DMatrix<f64>, batch_mean: DVector<f64>) {
        let rho = self.rho;
        self.corr = Some(match self.corr.take() {
            Some(old) => old * rho + batch_corr * (1.0 - rho),
            None => batch_corr,
        });
        self.mean = Some(match self.mean.take() {
            Some(old) => old * rho + batch_mean * (1.0 - rho),
            None => batch_mean,
        });
        self.updates += 1;
    }

    /// Adds a batch of row vectors `[n, d]` (row-major `f32`, as read back from the device).
    pub fn update_rows(&mut self, rows: &[f32], n: usize, d: usize) {
        let f = DMatrix::from_row_slice(n, d, rows).map(|x| x as f64);
        let corr = f.transpose() * &f / n as f64;
        let mean = f.row_mean().transpose();
        self.update(corr, mean);
    }

    /// `F̂`, or `F̂ − μ̂μ̂ᵀ` when `zero_mean`; `None` before the first batch.
    pub fn matrix(&self, zero_mean: bool) -> Option<DMatrix<f64>> {
        let corr = self.corr.as_ref()?;
        Some(match (&self.mean, zero_mean) {
            (Some(mu), true) => corr - mu * mu.transpose(),
            _ => corr.clone(),
        })
    }
}

/// Smallest value the largest eigenvalue is floored to, so a collapsed `F̂ = 0` gives `p = ε`.
pub const EIGEN_FLOOR: f64 = 1e-12;

/// The predictor eigenvalues `p_j` for eigenvalues `s_j` of `F̂`.
pub fn predictor_eigenvalues(s: &[f64], formula: Formula, eps: f64) -> Vec<f64> {
    let s_max = s
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(EIGEN_FLOOR);
    s.iter()
        .map(|&sj| {
            let r = (sj.max(0.0) / s_max).min(1.0);
            match formula {
                Formula::Sqrt => r.sqrt() + eps,
                _ => r + eps,
            }
        })
        .collect()
}

/// `W_p` from `F̂` (symmetrised first). Errors only on non-finite input.
pub fn predictor_weight(f_hat: &DMatrix<f64>, formula: Formula, eps: f64) -> Result<DMatrix<f64>> {
    if f_hat.iter().any(|x| !x.is_finite()) {
        return Err(SslError::NonFinite("correlation estimate F̂".into()));
    }
    let sym = (f_hat + f_hat.transpose()) * 0.5;
    let d = sym.nrows();
    let identity = DMatrix::identity(d, d) * eps;
    match formula {
        Formula::DirectCopy => return Ok(&sym / sym.norm().max(EIGEN_FLOOR) + identity),
        Formula::DirectCopyRaw => return Ok(sym + identity),
        Formula::DirectCopySpectral => {
            let top = sym.symmetric_eigenvalues().max().max(EIGEN_FLOOR);
            return Ok(sym / top + identity);
        }
        Formula::Sqrt | Formula::Linear => {}
    }
    let eig = SymmetricEigen::new(sym);
    let s: Vec<f64> = eig.eigenvalues.iter().copied().collect();
    let p = predictor_eigenvalues(&s, formula, eps);
    let u = &eig.eigenvectors;
    Ok(u * DMatrix::from_diagonal(&DVector::from_vec(p)) * u.transpose())
}

/// Estimator plus schedule: what the training step keeps between steps.
#[derive(Debug, Clone)]
pub struct DirectPred {
    /// Settings.
    pub config: DirectPredConfig,
    /// The running `F̂`, `μ̂`.
    pub estimator: CorrelationEstimator,
}

impl DirectPred {
    /// A fresh estimate with `config`'s settings.
    pub fn new(config: DirectPredConfig) -> Self {
        Self {
            estimator: CorrelationEstimator::new(config.rho),
            config,
        }
    }

    /// Whether step `step` (0-based) sets the predictor.
    pub fn due(&self, step: usize) -> bool {
        step.is_multiple_of(self.config.freq.max(1))
    }

    /// The weight to write now, `None` before the first batch.
    pub fn weight(&self) -> Result<Option<DMatrix<f64>>> {
        match self.estimator.matrix(self.config.zero_mean) {
            Some(f) => predictor_weight(&f, self.config.formula, self.config.eps).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(d: usize) -> DMatrix<f64> {
        let a = DMatrix::from_fn(d, d, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4);
        &a * a.transpose()
    }

    #[test]
    fn eigendecomposition_reconstructs_and_sqrt_formula_holds() {
        let f = spd(6);
        let eig = SymmetricEigen::new(f.clone());
        let rec = &eig.eigenvectors * DMatrix::from_diagonal(&eig.eigenvalues) * eig.eigenvectors.transpose();
        assert!((rec - &f).norm() < 1e-10);
        let w = predictor_weight(&f, Formula::Sqrt, 0.01).unwrap();
        // W_p shares F's eigenvectors, with eigenvalues √(s/max s) + ε.
        let smax = eig.eigenvalues.max();
        for j in 0..6 {
            let u = eig.eigenvectors.column(j);
            let pj = (u.transpose() * &w * u)[(0, 0)];
            let expect = (eig.eigenvalues[j].max(0.0) / smax).sqrt() + 0.01;
            assert!((pj - expect).abs() < 1e-10, "{pj} vs {expect}");
        }
        assert!((&w - w.transpose()).norm() < 1e-12);
        // W_p commutes with F.
        assert!((&w * &f - &f * &w).norm() < 1e-10);
    }

    #[test]
    fn collapsed_correlation_gives_eps_identity_not_nan() {
        for formula in [
            Formula::Sqrt,
            Formula::Linear,
            Formula::DirectCopy,
            Formula::DirectCopySpectral,
            Formula::DirectCopyRaw,
        ] {
            let w = predictor_weight(&DMatrix::zeros(4, 4), formula, 0.01).unwrap();
            assert!(w.iter().all(|x| x.is_finite()));
            assert!((w - DMatrix::identity(4, 4) * 0.01).norm() < 1e-12, "{formula:?}");
        }
        assert!(predictor_weight(&DMatrix::from_element(2, 2, f64::NAN), Formula::Sqrt, 0.01).is_err());
    }

    #[test]
    fn variants_linear_directcopy_and_zero_mean() {
        let f = DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 1.0, 0.0]));
        let lin = predictor_weight(&f, Formula::Linear, 0.01).unwrap();
        assert!((lin.diagonal() - DVector::from_vec(vec![1.01, 0.26, 0.01])).norm() < 1e-12);
        let sq = predictor_weight(&f, Formula::Sqrt, 0.01).unwrap();
        assert!((sq.diagonal() - DVector::from_vec(vec![1.01, 0.51, 0.01])).norm() < 1e-12);
        let dc = predictor_weight(&f, Formula::DirectCopy, 0.01).unwrap();
        let n = 17f64.sqrt();
        assert!(
            (dc.diagonal() - DVector::from_vec(vec![4.0 / n + 0.01, 1.0 / n + 0.01, 0.01])).norm() < 1e-12
        );
        // The reference's DirectCopy: F itself plus εI; the spectral form divides by max s = 4.
        let raw = predictor_weight(&f, Formula::DirectCopyRaw, 0.01).unwrap();
        assert!((raw.diagonal() - DVector::from_vec(vec![4.01, 1.01, 0.01])).norm() < 1e-12);
        let spec = predictor_weight(&f, Formula::DirectCopySpectral, 0.01).unwrap();
        assert!((spec.diagonal() - DVector::from_vec(vec![1.01, 0.26, 0.01])).norm() < 1e-12);
        // Zero mean: rows [1, 1] and [1, -1] have mean [1, 0] and covariance diag(0, 1).
        let mut est = CorrelationEstimator::new(0.3);
        est.update_rows(&[1.0, 1.0, 1.0, -1.0], 2, 2);
        let cov = est.matrix(true).unwrap();
        assert!((cov - DMatrix::from_row_slice(2, 2, &[0.0, 0.0, 0.0, 1.0])).norm() < 1e-12);
    }

    #[test]
    fn estimator_ema_weights_the_old_estimate_by_rho() {
        let mut est = CorrelationEstimator::new(0.3);
        est.update(DMatrix::identity(2, 2), DVector::zeros(2));
        assert_eq!(est.corr.clone().unwrap(), DMatrix::identity(2, 2));
        est.update(DMatrix::zeros(2, 2), DVector::zeros(2));
        assert!((est.corr.clone().unwrap() - DMatrix::identity(2, 2) * 0.3).norm() < 1e-15);
    }
}
