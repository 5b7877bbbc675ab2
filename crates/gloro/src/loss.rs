//! Training objectives on the m+1 GloRo logits (§5).
//!
//! - Cross-entropy over `[y, y_⊥]` with the true class as target: pushes y_⊥ below y_label.
//! - TRADES-KL: CE(y) + λ·KL(p ‖ q) with p = softmax(y) padded with 0 for ⊥ and
//!   q = softmax([y, y_⊥]); analytically KL = softplus(y_⊥ − logsumexp(y)).
//! - TRADES-CE: CE(y) + λ·(−Σ p_i log q_i) = CE(y) + λ·(H(p) + softplus(y_⊥ − logsumexp(y))).

use burn::tensor::activation::{log_sigmoid, log_softmax, softmax};
use burn::tensor::{Int, Tensor};

/// Which objective to train with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Cross-entropy over the m+1 logits.
    CrossEntropy,
    /// TRADES: cross-entropy on the m logits plus λ·KL to the m+1 logits.
    TradesKl,
    /// TRADES with cross-entropy in place of the KL term.
    TradesCe,
}

/// Mean negative log-likelihood of `targets` under `log_softmax(logits)`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, _] = logits.dims();
    let logp = log_softmax(logits, 1);
    logp.gather(1, targets.reshape([b, 1])).mean().neg()
}

fn logsumexp(y: Tensor<2>) -> Tensor<2> {
    let m = y.clone().max_dim(1).detach();
    (y - m.clone()).exp().sum_dim(1).log() + m
}

/// softplus(y_⊥ − logsumexp(y)) per row `[B, 1]`: the KL term of TRADES-KL.
pub fn bot_kl(y: Tensor<2>, bot: Tensor<2>) -> Tensor<2> {
    // softplus(x) = −log σ(−x), stable for large |x|
    log_sigmoid((bot - logsumexp(y)).neg()).neg()
}

/// The objective on GloRo logits `ext = [y, y_⊥]` (`[B, m+1]`) with weight `lambda` for the
/// TRADES terms (ignored by plain cross-entropy). Returns a scalar `[1]`.
pub fn gloro_loss(kind: LossKind, ext: Tensor<2>, targets: Tensor<1, Int>, lambda: f64) -> Tensor<1> {
    let [_, m1] = ext.dims();
    let m = m1 - 1;
    match kind {
        LossKind::CrossEntropy => cross_entropy(ext, targets),
        LossKind::TradesKl | LossKind::TradesCe => {
            let y = ext.clone().narrow(1, 0, m);
            let bot = ext.narrow(1, m, 1);
            let ce = cross_entropy(y.clone(), targets);
            let mut robust = bot_kl(y.clone(), bot);
            if kind == LossKind::TradesCe {
                let entropy = (softmax(y.clone(), 1) * log_softmax(y, 1)).sum_dim(1).neg();
                robust = robust + entropy;
            }
            ce + robust.mean().mul_scalar(lambda)
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f64>()
    }

    #[test]
    fn trades_kl_equals_the_kl_divergence_it_stands_for() {
        let d = Device::flex();
        let ext = Tensor::<2>::from_floats([[1.0, -0.5, 0.3, 0.7], [0.2, 2.0, -1.0, 1.5]], &d);
        let t = Tensor::<1, Int>::from_data(TensorData::from([0i64, 1]), &d);
        let rows = ext.to_data().try_to_vec::<f32>().unwrap();
        // direct KL(p || q) with p padded by 0 for ⊥
        let mut kl = 0.0;
        let mut ce = 0.0;
        for (r, row) in rows.chunks(4).enumerate() {
            let y: Vec<f64> = row[..3].iter().map(|&v| v as f64).collect();
            let zy: f64 = y.iter().map(|v| v.exp()).sum();
            let zq = zy + (row[3] as f64).exp();
            for v in &y {
                let p = v.exp() / zy;
                let q = v.exp() / zq;
                kl += p * (p / q).ln() / 2.0;
            }
            let label = [0, 1][r];
            ce += -(y[label].exp() / zy).ln() / 2.0;
        }
        let got = scalar(gloro_loss(LossKind::TradesKl, ext.clone(), t.clone(), 2.0));
        assert!((got - (ce + 2.0 * kl)).abs() < 1e-5, "{got} vs {}", ce + 2.0 * kl);
        let ce_only = scalar(gloro_loss(LossKind::TradesKl, ext, t, 0.0));
        assert!((ce_only - ce).abs() < 1e-5);
    }

    #[test]
    fn cross_entropy_over_m_plus_one_and_trades_ce_adds_entropy() {
        let d = Device::flex();
        let ext = Tensor::<2>::from_floats([[0.0, 0.0, 0.0]], &d);
        let t = Tensor::<1, Int>::from_data(TensorData::from([1i64]), &d);
        let ce = scalar(gloro_loss(LossKind::CrossEntropy, ext.clone(), t.clone(), 1.0));
        assert!((ce - 3f64.ln()).abs() < 1e-6);
        let kl = scalar(gloro_loss(LossKind::TradesKl, ext.clone(), t.clone(), 1.0));
        let tce = scalar(gloro_loss(LossKind::TradesCe, ext, t, 1.0));
        assert!(
            (tce - kl - 2f64.ln()).abs() < 1e-5,
            "entropy of uniform p over 2 classes"
        );
    }
}
