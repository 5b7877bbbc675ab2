//! The soundness check: attack every certified point with ℓ2 PGD inside its ε-ball; a single
//! success would be a false certificate. The same attack on uncertified points must succeed
//! some of the time, which shows the attack is real.

use crate::attack::{PgdConfig, pgd_l2};
use crate::certify::Certifier;
use crate::model::GloroNet;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Counts of a soundness check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SoundnessReport {
    /// The radius certified and attacked.
    pub eps: f64,
    /// The body bound K of the certifier.
    pub k: f64,
    /// Points checked.
    pub points: usize,
    /// Points certified at ε.
    pub certified: usize,
    /// Certified points attacked (all of them).
    pub certified_attacked: usize,
    /// Certified points whose prediction the attack changed: must be 0.
    pub certified_broken: usize,
    /// Uncertified points attacked (all of them).
    pub uncertified_attacked: usize,
    /// Uncertified points whose prediction the attack changed (evidence the attack works).
    pub uncertified_broken: usize,
    /// The attack's settings.
    pub attack: PgdConfig,
}

/// Certifies `x` (plain device) with `certifier` and attacks every point with PGD on `ad`
/// (an autodiff device) at the certifier's ε; `model_ad` is the certifier's model on `ad`.
pub fn check(
    certifier: &Certifier,
    model_ad: &GloroNet,
    x: &Tensor<4>,
    ad: &Device,
    attack: PgdConfig,
    batch: usize,
) -> SoundnessReport {
    let n = x.dims()[0];
    let mut r = SoundnessReport {
        eps: attack.eps,
        k: certifier.k,
        points: n,
        certified: 0,
        certified_attacked: 0,
        certified_broken: 0,
        uncertified_attacked: 0,
        uncertified_broken: 0,
        attack,
    };
    for start in (0..n).step_by(batch.max(1)) {
        let end = (start + batch).min(n);
        let idx: Vec<i64> = (start as i64..end as i64).collect();
        let xb = x.clone().select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(idx, [end - start]), &x.device()),
        );
        let certs = certifier.certify(xb.clone());
        let classes: Vec<i64> = certs.iter().map(|c| c.class as i64).collect();
        let target = Tensor::<1, Int>::from_data(TensorData::new(classes, [end - start]), ad);
        let xa = Tensor::<4>::from_data(xb.into_data(), ad);
        let (broken, _) = pgd_l2(model_ad, xa, target, attack);
        for (c, b) in certs.iter().zip(broken) {
            if c.prediction.is_some() {
                r.certified += 1;
                r.certified_attacked += 1;
                r.certified_broken += b as usize;
            } else {
                r.uncertified_attacked += 1;
                r.uncertified_broken += b as usize;
            }
        }
    }
    r
}
