//! Attacks that check certificates empirically.
//!
//! - [`pgd_l2`]: projected gradient descent in the ℓ2 ball of radius ε (Madry et al. 2018) on
//!   the margin max_{i≠j} y_i − y_j, from the centre and from random starts; no box constraint,
//!   so it searches the whole ball the certificate speaks about.
//! - [`margin_lipschitz_lower_bound`]: gradient ascent over pairs of inputs of
//!   |Δ(y_j − y_i)| / ‖Δx‖, an empirical lower bound of the margin's Lipschitz constant,
//!   which can never exceed a sound K_ji.

use crate::model::GloroNet;
use burn::module::Module;
use burn::tensor::{Bool, Distribution, Int, Tensor};

/// PGD settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PgdConfig {
    /// Radius of the ℓ2 ball attacked.
    pub eps: f64,
    /// Gradient steps per start.
    pub steps: usize,
    /// Random starts in addition to the start at the centre.
    pub restarts: usize,
    /// Step length as a multiple of ε / steps (2.5 is Madry et al.'s choice).
    pub step_factor: f64,
}

impl PgdConfig {
    /// Madry et al.'s settings at radius `eps`: 100 steps, 4 random restarts, step factor 2.5.
    pub fn new(eps: f64) -> Self {
        Self {
            eps,
            steps: 100,
            restarts: 4,
            step_factor: 2.5,
        }
    }
}

fn row_norms(x: Tensor<4>) -> Tensor<4> {
    let [b, _, _, _] = x.dims();
    x.powf_scalar(2.0)
        .sum_dims(&[1, 2, 3])
        .sqrt()
        .clamp_min(1e-12)
        .reshape([b, 1, 1, 1])
}

/// Projects each row of δ onto the ℓ2 ball of radius `eps`.
fn project(delta: Tensor<4>, eps: f64) -> Tensor<4> {
    let n = row_norms(delta.clone());
    let scale = (n.clone().recip().mul_scalar(eps)).clamp_max(1.0);
    delta * scale
}

/// Margin max_{i≠j} y_i − y_j per row (`[B]`), positive when the prediction left class j.
fn margin(logits: Tensor<2>, target: Tensor<1, Int>) -> Tensor<1> {
    let [b, m] = logits.dims();
    let is_j: Tensor<2, Bool> = target.clone().one_hot::<2>(m).bool();
    let yj = logits.clone().gather(1, target.reshape([b, 1]));
    let others = logits.mask_fill(is_j, -1e9).max_dim(1);
    (others - yj).reshape([b])
}

/// Attacks `x` (`[B, C, H, W]`, on an autodiff device) against classes `target`; returns,
/// per row, whether some point within ε changed the argmax, and the largest margin found.
pub fn pgd_l2(
    model: &GloroNet,
    x: Tensor<4>,
    target: Tensor<1, Int>,
    cfg: PgdConfig,
) -> (Vec<bool>, Vec<f32>) {
    let model = model.clone().no_grad();
    let b = x.dims()[0];
    let mut broken = vec![false; b];
    let mut best = vec![f32::NEG_INFINITY; b];
    let alpha = cfg.step_factor * cfg.eps / cfg.steps as f64;
    for restart in 0..=cfg.restarts {
        let mut delta = if restart == 0 {
            x.zeros_like()
        } else {
            let r = x.random_like(Distribution::Normal(0.0, 1.0));
            let u = Tensor::<1>::random([b], Distribution::Default, &x.device()).reshape([b, 1, 1, 1]);
            // uniform radius in the ball's volume is overkill; uniform in [0, ε] spreads starts
            r.clone() / row_norms(r) * u.mul_scalar(cfg.eps)
        };
        for step in 0..=cfg.steps {
            let xa = (x.clone() + delta.clone()).detach().require_grad();
            let m = margin(model.forward(xa.clone()), target.clone());
            let values = m
                .clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap();
            for (i, v) in values.iter().enumerate() {
                best[i] = best[i].max(*v);
                broken[i] |= *v > 0.0;
            }
            if step == cfg.steps {
                break;
            }
            let grads = m.sum().backward();
            let g = xa.grad(&grads).expect("input gradient");
            let g = g.clone() / row_norms(g);
            delta = project(delta + g.mul_scalar(alpha), cfg.eps).detach();
        }
    }
    (broken, best)
}

/// Largest |Δ(y_j − y_i)| / ‖x₁ − x₂‖ found by gradient ascent from pairs (`x1`, `x2`) nearby,
/// per row. An empirical *lower* bound on the Lipschitz constant of the margin y_j − y_i.
pub fn margin_lipschitz_lower_bound(
    model: &GloroNet,
    x1: Tensor<4>,
    x2: Tensor<4>,
    j: usize,
    i: usize,
    steps: usize,
    lr: f64,
) -> Vec<f64> {
    let model = model.clone().no_grad();
    let b = x1.dims()[0];
    let (mut a, mut c) = (x1, x2);
    let mut best = vec![0f64; b];
    let m_of = |logits: Tensor<2>| logits.clone().narrow(1, j, 1) - logits.narrow(1, i, 1);
    for step in 0..=steps {
        let (xa, xc) = (
            a.clone().detach().require_grad(),
            c.clone().detach().require_grad(),
        );
        let dm = (m_of(model.forward(xa.clone())) - m_of(model.forward(xc.clone()))).reshape([b]);
        let dist = (xa.clone() - xc.clone())
            .powf_scalar(2.0)
            .sum_dims(&[1, 2, 3])
            .sqrt()
            .reshape([b]);
        let ratio = dm.abs() / dist.clamp_min(1e-9);
        for (k, v) in ratio
            .clone()
            .into_data()
            .convert::<f64>()
            .try_to_vec::<f64>()
            .unwrap()
            .into_iter()
            .enumerate()
        {
            best[k] = best[k].max(v);
        }
        if step == steps {
            break;
        }
        let grads = ratio.sum().backward();
        a = xa.clone() + xa.grad(&grads).unwrap().mul_scalar(lr);
        c = xc.clone() + xc.grad(&grads).unwrap().mul_scalar(lr);
    }
    best
}
