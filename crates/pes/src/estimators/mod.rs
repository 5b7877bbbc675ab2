//! The gradient estimators of the paper's comparison (§3–§4, Table 1), one file each, behind
//! one trait and one constructor:
//!
//! | module | estimator | paper |
//! |---|---|---|
//! | [`base`] | the [`GradientEstimator`] trait, [`EstimatorConfig`], episode [`Clock`], [`Snapshot`] | §2–§3 |
//! | [`persistent`] | [`Persistent`]: PES | §4, Eq. 7, Algorithm 1 |
//! | [`truncated_es`] | [`TruncatedEs`]: truncated ES and full-episode ES (K = T) | §3, Eq. 4 |
//! | [`noise_reuse`] | [`NoiseReuseEs`]: one perturbation per episode | Li et al. 2023 (beyond the paper) |
//! | [`tbptt`] | [`Tbptt`]: truncated and full BPTT (K = T) | §3 |
//! | [`rtrl`] | [`Rtrl`]: real-time recurrent learning (host problems) | §5.1–§5.2 baseline |
//! | [`uoro`] | [`Uoro`]: unbiased online recurrent optimisation (host problems) | §5.1 baseline |
//!
//! [`build`] turns an [`EstimatorConfig`] into the boxed estimator it names.

pub mod base;
pub mod noise_reuse;
pub mod persistent;
pub mod rtrl;
pub mod tbptt;
pub mod truncated_es;
pub mod uoro;

pub use base::{
    Clock, Estimate, EstimatorConfig, EstimatorKind, GradientEstimator, Method, Segment, Snapshot,
    accumulate_weighted, mean,
};
pub use noise_reuse::NoiseReuseEs;
pub use persistent::{Persistent, PesFault};
pub use rtrl::Rtrl;
pub use tbptt::Tbptt;
pub use truncated_es::TruncatedEs;
pub use uoro::Uoro;

use crate::error::Result;
use crate::problems::UnrolledProblem;
use burn::tensor::Device;

/// Builds the estimator named by `config` on `device` (TBPTT and BPTT differentiate on
/// `device.autodiff()`, or in forward mode on host problems; RTRL and UORO need a host
/// problem). ES and BPTT get K = T; a bad K, N or σ is an error here.
pub fn build<P: UnrolledProblem + 'static>(
    config: &EstimatorConfig,
    problem: &P,
    device: &Device,
) -> Result<Box<dyn GradientEstimator<P>>> {
    let k = config.effective_truncation(problem.horizon())?;
    let config = EstimatorConfig {
        truncation: k,
        ..config.clone()
    };
    if config.kind.is_evolutionary() {
        crate::noise::antithetic(config.particles, 1, config.sigma, 0, 0)?;
    }
    Ok(match config.kind {
        EstimatorKind::Pes => Box::new(Persistent::new(config, device)),
        EstimatorKind::TruncatedEs | EstimatorKind::Es => Box::new(TruncatedEs::new(config, device)),
        EstimatorKind::NoiseReuseEs => Box::new(NoiseReuseEs::new(config, device)),
        EstimatorKind::Tbptt | EstimatorKind::Bptt => Box::new(Tbptt::new(config, device)),
        EstimatorKind::Rtrl | EstimatorKind::Uoro if problem.host().is_none() => {
            return Err(crate::error::PesError::Config(format!(
                "{} needs exact step derivatives; the {} problem does not provide them",
                config.kind.label(),
                problem.name()
            )));
        }
        EstimatorKind::Rtrl => Box::new(Rtrl::new(config)),
        EstimatorKind::Uoro => Box::new(Uoro::new(config)),
    })
}
