//! Certification (§3): for each input, the predicted class — or ⊥ when the prediction is not
//! certified at ε — and the certified radius min_{i≠j} (y_j − y_i)/K_ji; and over a dataset,
//! clean accuracy, verified-robust accuracy (VRA) and the VRA-against-ε curve.
//!
//! Certificates use the body bound `K` after the power iterates have been run to convergence
//! ([`Certifier::new`] does it), never the few-iteration estimate of a training step.

use crate::margin::{certified_radius, pairwise_distances};
use crate::model::GloroNet;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Convergence settings of the power iterates before certification.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// A layer counts as converged when its residual ‖AᵀA v − λ v‖ is at most `tol`·λ.
    pub tol: f64,
    /// Iteration cap per layer.
    pub max_iters: usize,
}

impl Default for Convergence {
    fn default() -> Self {
        Self {
            tol: 1e-4,
            max_iters: 5_000,
        }
    }
}

/// The certificate of one input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// argmax of the logits.
    pub class: usize,
    /// `Some(class)` when certified at ε, `None` for ⊥.
    pub prediction: Option<usize>,
    /// Certified ℓ2 radius; the point is certified at ε iff `radius > ε`.
    pub radius: f64,
}

/// A model with its converged bound, ready to certify at radius `eps`.
pub struct Certifier<'a> {
    pub model: &'a GloroNet,
    pub eps: f64,
    /// Body bound K (product of converged per-layer bounds).
    pub k: f64,
    distances: Vec<f32>,
    classes: usize,
}

impl<'a> Certifier<'a> {
    /// Converges the model's power iterates and prepares certification at `eps`.
    pub fn new(model: &'a GloroNet, eps: f64, conv: Convergence) -> Self {
        let k = model.certified_lipschitz(conv.tol, conv.max_iters);
        Self::with_k(model, eps, k)
    }

    /// Uses a K already computed (e.g. loaded with a model whose iterates are converged).
    pub fn with_k(model: &'a GloroNet, eps: f64, k: f64) -> Self {
        let w = model.class_weights();
        let classes = w.dims()[0];
        let distances = pairwise_distances(w)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        Self {
            model,
            eps,
            k,
            distances,
            classes,
        }
    }

    /// K_ji = K·‖w_j − w_i‖.
    pub fn k_ji(&self, j: usize, i: usize) -> f64 {
        self.k * self.distances[j * self.classes + i] as f64
    }

    /// Certificates of a batch `[B, C, H, W]`.
    pub fn certify(&self, x: Tensor<4>) -> Vec<Certificate> {
        let logits = self
            .model
            .forward(x)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        certified_radius(&logits, self.classes, self.k, &self.distances)
            .into_iter()
            .map(|(class, radius)| Certificate {
                class,
                prediction: (radius > self.eps).then_some(class),
                radius,
            })
            .collect()
    }

    /// Certifies `x` (all images, `[N, C, H, W]`) against `labels` in batches.
    pub fn evaluate(&self, x: &Tensor<4>, labels: &[u8], batch: usize) -> Evaluation {
        let n = x.dims()[0];
        let device = x.device();
        let mut certs = Vec::with_capacity(n);
        for start in (0..n).step_by(batch.max(1)) {
            let end = (start + batch).min(n);
            let idx = Tensor::<1, Int>::from_data(
                TensorData::new((start as i64..end as i64).collect::<Vec<_>>(), [end - start]),
                &device,
            );
            certs.extend(self.certify(x.clone().select(0, idx)));
        }
        Evaluation::new(self.eps, self.k, &certs, labels)
    }
}

/// Certification results over a labelled set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub eps: f64,
    pub k: f64,
    pub n: usize,
    /// Fraction whose argmax is the label.
    pub clean_accuracy: f64,
    /// Fraction whose argmax is the label *and* is certified at ε.
    pub vra: f64,
    /// Fraction answered ⊥ (not certified).
    pub rejected: f64,
    /// Per point: certified radius when correctly classified, else 0 (so VRA(ε') = P[r > ε']).
    pub correct_radii: Vec<f64>,
}

impl Evaluation {
    pub fn new(eps: f64, k: f64, certs: &[Certificate], labels: &[u8]) -> Self {
        let n = certs.len();
        let mut correct_radii = Vec::with_capacity(n);
        let (mut clean, mut vra, mut rejected) = (0usize, 0usize, 0usize);
        for (c, &l) in certs.iter().zip(labels) {
            let ok = c.class == l as usize;
            clean += ok as usize;
            vra += (ok && c.prediction.is_some()) as usize;
            rejected += c.prediction.is_none() as usize;
            correct_radii.push(if ok { c.radius } else { 0.0 });
        }
        let f = |c: usize| c as f64 / n.max(1) as f64;
        Self {
            eps,
            k,
            n,
            clean_accuracy: f(clean),
            vra: f(vra),
            rejected: f(rejected),
            correct_radii,
        }
    }

    /// VRA at radius `eps` (same K): the fraction of correct points with radius above it.
    pub fn vra_at(&self, eps: f64) -> f64 {
        self.correct_radii.iter().filter(|&&r| r > eps).count() as f64 / self.n.max(1) as f64
    }

    /// `(ε, VRA(ε))` on `points` evenly spaced radii from 0 to `max_eps`.
    pub fn vra_curve(&self, max_eps: f64, points: usize) -> Vec<(f64, f64)> {
        (0..points)
            .map(|i| {
                let e = max_eps * i as f64 / (points - 1).max(1) as f64;
                (e, self.vra_at(e))
            })
            .collect()
    }
}
