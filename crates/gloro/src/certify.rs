//! Certification (§3): for each input, the predicted class — or ⊥ when the prediction is not
//! certified at ε — and the certified radius; over a dataset, clean accuracy, verified-robust
//! accuracy (VRA) and the VRA-against-ε curve.
//!
//! # What a certificate proves
//! Let F be the network in exact arithmetic with the stored f32 weights and F̂ its f32
//! evaluation by our kernels. A point x with computed prediction j is certified at ε when, for
//! every class i ≠ j,
//!
//! ŷ_j − ŷ_i > ε·K_ji + 2Δ_ji(ε),
//!
//! with K_ji = K·‖w_j − w_i‖, K the product of the per-layer bounds of [`crate::bounds`]
//! (proofs, under [`BoundMethod::Sound`]), ‖w_j − w_i‖ computed from the differences in f64 and
//! rounded up, and Δ_ji(ε) a bound on |(F̂_j − F̂_i) − (F_j − F_i)| at every point of the ball.
//! Then for every x' in the ball: F̂ gap(x') ≥ F gap(x') − Δ ≥ F gap(x) − εK_ji − Δ ≥
//! F̂ gap(x) − εK_ji − 2Δ > 0, so the *computed* prediction at x' is j.
//!
//! # The rounding allowance Δ
//! An affine layer with fan-in n computed in f32 (any summation order, with or without fused
//! multiply-adds, subnormals possibly flushed) errs by at most γ_{n+1}(|A||x̂| + |b|) + (n+1)·2⁻¹²⁶
//! per output, so in ℓ2 by δ_l ≤ γ_{n+1}(‖|A|‖₂‖x̂‖ + ‖b‖) + √d_out·(n+1)·2⁻¹²⁶. MinMax, ReLU
//! and flatten are exact and 1-Lipschitz, so the error after layer l obeys
//! E_l ≤ L_l·E_{l−1} + δ_l. Over the ball, the computed activations' norms are at most
//! M_l = ‖x̂_l‖ + 2E_l + ε·L_1⋯L_l (‖x̂_l‖ measured at x, sums of squares inflated by
//! γ). The head adds ρ_i = γ_{d+1}(‖w_i‖M + |b_i|) + (d+1)·2⁻¹²⁶ to logit i, and
//! Δ_ji = ‖w_j − w_i‖·E_body + ρ_j + ρ_i. Everything is affine in ε, Δ = Δ₀ + Δ₁ε, so the
//! certified radius is min_i (ŷ_j − ŷ_i − 2Δ₀)/(K_ji + 2Δ₁) ([`crate::margin::pair_radius`]),
//! exact for every ε at once. All bookkeeping is in f64, rounded outward.
//!
//! The allowance covers any backend whose f32 additions and multiplications are IEEE-754
//! round-to-nearest (flex, ndarray; wgpu under WGSL's rules, where subnormals may flush).
//! It assumes no overflow: a non-finite logit or norm fails closed (radius 0).
//!
//! [`BoundMethod::PowerIteration`] and [`CertifyOptions::float_margin`] = `false` are kept to
//! measure what each part of the certificate costs; they are estimates, not certificates.

use crate::bounds::float::{F32_MIN_NORMAL, gamma32, up};
use crate::bounds::{BoundMethod, ConvMethod, LayerBound, layer_bounds};
use crate::error::{GloroError, Result};
use crate::margin::{argmax, distances_upper, min_radius, pair_radius};
use crate::model::GloroNet;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use crate::lipschitz::Convergence;

/// What a certifier uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CertifyOptions {
    /// Per-layer bounds: sound (the certificate) or the power-iteration estimate.
    pub bound: BoundMethod,
    /// How conv layers are bounded under [`BoundMethod::Sound`].
    pub conv: ConvMethod,
    /// Charge the rounding allowance 2Δ (see the module documentation).
    pub float_margin: bool,
    /// Power-iteration settings.
    pub convergence: Convergence,
}

impl CertifyOptions {
    /// The certificate: sound bounds and the rounding allowance.
    pub fn sound(convergence: Convergence) -> Self {
        Self {
            bound: BoundMethod::Sound,
            conv: ConvMethod::Auto,
            float_margin: true,
            convergence,
        }
    }

    /// The paper's estimate: converged power iteration, no rounding allowance.
    pub fn power_iteration(convergence: Convergence) -> Self {
        Self {
            bound: BoundMethod::PowerIteration,
            conv: ConvMethod::Auto,
            float_margin: false,
            convergence,
        }
    }

    /// Whether these options give a proof (sound bounds and the rounding allowance).
    pub fn is_certificate(&self) -> bool {
        self.bound == BoundMethod::Sound && self.float_margin
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

/// A model with its bounds, ready to certify at radius `eps`.
#[derive(Clone)]
pub struct Certifier<'a> {
    /// The model.
    pub model: &'a GloroNet,
    /// The radius certified.
    pub eps: f64,
    /// Body bound K (product of the per-layer bounds, rounded up).
    pub k: f64,
    /// The per-layer bounds, in layer order.
    pub layers: Vec<LayerBound>,
    /// What this certifier uses.
    pub options: CertifyOptions,
    distances: Vec<f64>,
    row_norms: Vec<f64>,
    biases: Vec<f64>,
    head_dim: usize,
    classes: usize,
}

fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data")
}

impl<'a> Certifier<'a> {
    /// Bounds every layer of `model` and prepares certification at `eps`.
    pub fn new(model: &'a GloroNet, eps: f64, options: CertifyOptions) -> Result<Self> {
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(GloroError::Certifier(format!(
                "ε = {eps} must be finite and non-negative"
            )));
        }
        let layers = layer_bounds(model, options.bound, options.conv, options.convergence)?;
        let k = layers.iter().fold(1.0, |k, l| up(k * l.upper));
        let w = host_f32(model.class_weights());
        let classes = model.class_weights().dims()[0];
        let head_dim = w.len() / classes.max(1);
        if w.iter().any(|v| !v.is_finite()) {
            return Err(GloroError::Certifier("the head has a non-finite weight".into()));
        }
        let biases: Vec<f64> = match &model.head.bias {
            Some(b) => host_f32(b.val()).into_iter().map(f64::from).collect(),
            None => vec![0.0; classes],
        };
        let row_norms = (0..classes)
            .map(|i| {
                up(crate::bounds::float::sum_squares_up(
                    w[i * head_dim..(i + 1) * head_dim].iter().map(|&v| v as f64),
                )
                .sqrt())
            })
            .collect();
        let c = Self {
            model,
            eps,
            k,
            layers,
            options,
            distances: distances_upper(&w, classes),
            row_norms,
            biases,
            head_dim,
            classes,
        };
        c.check_k()?;
        Ok(c)
    }

    fn check_k(&self) -> Result<()> {
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(GloroError::Certifier(format!(
                "K = {} is not finite and positive",
                self.k
            )));
        }
        Ok(())
    }

    /// A copy with K multiplied by `factor` (every layer bound scaled by factor^(1/L)): a
    /// deliberately wrong certifier for negative controls of the attack, never for results.
    pub fn with_scaled_k(mut self, factor: f64) -> Result<Self> {
        let per_layer = factor.powf(1.0 / self.layers.len().max(1) as f64);
        for l in &mut self.layers {
            l.upper *= per_layer;
        }
        self.k *= factor;
        self.check_k()?;
        Ok(self)
    }

    /// The same bounds without the rounding allowance (to measure its cost; not a
    /// certificate).
    pub fn without_float_margin(mut self) -> Self {
        self.options.float_margin = false;
        self
    }

    /// K_ji = K·‖w_j − w_i‖ (rounded up).
    pub fn k_ji(&self, j: usize, i: usize) -> f64 {
        up(self.k * self.distances[j * self.classes + i])
    }

    /// The body's rounding-error bound E = E₀ + E₁ε on ‖features computed − exact‖ and the bound
    /// M = M₀ + M₁ε on the computed features' norm, over the ε-ball (module documentation).
    fn body_error(&self, sq_norms: &[f64], input_len: usize) -> (f64, f64, f64, f64) {
        // ‖x̂‖ from a sum of squares of `len` f32 values computed in f32
        let norm = |sq: f64, len: usize| up((sq * (1.0 + 2.0 * gamma32(len + 1))).sqrt());
        let mut lens = Vec::with_capacity(self.layers.len() + 1);
        let mut input_len = input_len;
        for l in &self.layers {
            lens.push(input_len);
            input_len = l.outputs;
        }
        lens.push(self.head_dim);
        let (mut e0, mut e1) = (0.0f64, 0.0f64);
        let (mut m0, mut m1) = (norm(sq_norms[0], lens[0]), 1.0f64);
        let mut prefix = 1.0f64;
        for (l, layer) in self.layers.iter().enumerate() {
            let g = gamma32(layer.fan_in + 1);
            let tau = up((layer.outputs as f64).sqrt() * (layer.fan_in + 1) as f64 * F32_MIN_NORMAL);
            e0 = up(layer.upper * e0 + g * (layer.abs_norm * m0 + layer.bias_norm) + tau);
            e1 = up(layer.upper * e1 + g * layer.abs_norm * m1);
            prefix = up(prefix * layer.upper);
            m0 = up(norm(sq_norms[l + 1], lens[l + 1]) + 2.0 * e0);
            m1 = up(2.0 * e1 + prefix);
        }
        (e0, e1, m0, m1)
    }

    /// Per example of `x`, the bound E₀ on the ℓ2 distance between the body's f32 output and
    /// its exact-arithmetic value at that point; `None` for a non-finite norm.
    pub fn feature_error_bound(&self, x: Tensor<4>) -> Vec<Option<f64>> {
        let (_, rows, input_len) = self.traced(x);
        rows.iter()
            .map(|sq| {
                sq.iter()
                    .all(|v| v.is_finite())
                    .then(|| self.body_error(sq, input_len).0)
            })
            .collect()
    }

    /// One forward pass of `x`: the logits `[B·m]` on the host, per example the sums of squares
    /// of its affine layers' inputs ([`GloroNet::forward_traced`]), and the input length C·H·W.
    fn traced(&self, x: Tensor<4>) -> (Vec<f32>, Vec<Vec<f64>>, usize) {
        let [b, c, h, w] = x.dims();
        let (logits, norms) = self.model.forward_traced(x);
        let norms: Vec<Vec<f32>> = norms.into_iter().map(host_f32).collect();
        let rows = (0..b)
            .map(|row| norms.iter().map(|n| n[row] as f64).collect())
            .collect();
        (host_f32(logits), rows, c * h * w)
    }

    /// The rounding allowances Δ_ji = Δ₀ + Δ₁ε of one example (input of `input_len` values)
    /// for its class `j` against each class, from the sums of squares of its affine layers'
    /// inputs (module documentation); `None` when a norm is not finite.
    fn allowance(&self, sq_norms: &[f64], input_len: usize, j: usize) -> Option<Vec<(f64, f64)>> {
        let zero = vec![(0.0, 0.0); self.classes];
        if !self.options.float_margin {
            return Some(zero);
        }
        if sq_norms.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let (e0, e1, m0, m1) = self.body_error(sq_norms, input_len);
        let g = gamma32(self.head_dim + 1);
        let tau = up((self.head_dim + 1) as f64 * F32_MIN_NORMAL);
        let rho = |i: usize| {
            (
                up(g * (self.row_norms[i] * m0 + self.biases[i].abs()) + tau),
                up(g * self.row_norms[i] * m1),
            )
        };
        let (rj0, rj1) = rho(j);
        Some(
            (0..self.classes)
                .map(|i| {
                    let d = self.distances[j * self.classes + i];
                    let (ri0, ri1) = rho(i);
                    (up(d * e0 + rj0 + ri0), up(d * e1 + rj1 + ri1))
                })
                .collect(),
        )
    }

    /// The rounding allowance Δ_ji = Δ₀ + Δ₁ε of every example of `x` for its predicted class
    /// j against each class i (indexed by i); `None` for an example with a non-finite norm.
    pub fn rounding_allowance(&self, x: Tensor<4>) -> Vec<Option<Vec<(f64, f64)>>> {
        let (logits, rows, input_len) = self.traced(x);
        rows.iter()
            .enumerate()
            .map(|(row, sq)| {
                let j = argmax(&logits[row * self.classes..(row + 1) * self.classes]);
                self.allowance(sq, input_len, j)
            })
            .collect()
    }

    /// Certificates of a batch `[B, C, H, W]`.
    pub fn certify(&self, x: Tensor<4>) -> Vec<Certificate> {
        let (logits, rows, input_len) = self.traced(x);
        rows.iter()
            .enumerate()
            .map(|(row, sq)| {
                let y = &logits[row * self.classes..(row + 1) * self.classes];
                let j = argmax(y);
                let radius = match (y.iter().all(|v| v.is_finite()), self.allowance(sq, input_len, j)) {
                    (true, Some(delta)) => min_radius(
                        (0..self.classes)
                            .filter(|&i| i != j)
                            .map(|i| pair_radius(y[j] as f64 - y[i] as f64, self.k_ji(j, i), delta[i])),
                    ),
                    _ => 0.0,
                };
                Certificate {
                    class: j,
                    prediction: (radius > self.eps).then_some(j),
                    radius,
                }
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
        let mut ev = Evaluation::new(self.eps, self.k, &certs, labels);
        ev.options = Some(self.options);
        ev
    }
}

/// Certification results over a labelled set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    /// The radius certified.
    pub eps: f64,
    /// The body bound K used.
    pub k: f64,
    /// How the certificates were made (absent in records written before the sound path).
    #[serde(default)]
    pub options: Option<CertifyOptions>,
    /// Points evaluated.
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
    /// Tallies `certs` against `labels` at radius `eps` (body bound `k`).
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
            options: None,
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

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::model::{ConvSpec, GloroNetConfig};
    use burn::module::Param;
    use burn::tensor::{Device, Distribution};

    fn small(device: &Device) -> GloroNet {
        GloroNetConfig::new([8, 1, 1], vec![], vec![16, 16], 4).init(device)
    }

    /// The dense model's logits in f64 from its f32 weights: the exact-arithmetic F.
    fn forward_f64(model: &GloroNet, x: &[f64]) -> Vec<f64> {
        let mut h = x.to_vec();
        for layer in &model.layers {
            if let crate::model::Layer::Dense(d) = layer {
                let a = crate::bounds::dense_matrix(d);
                let b: Vec<f64> = d
                    .linear
                    .bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .into_data()
                    .convert::<f64>()
                    .try_to_vec()
                    .unwrap();
                h = (0..a.nrows())
                    .map(|o| b[o] + (0..a.ncols()).map(|i| a[(o, i)] * h[i]).sum::<f64>())
                    .collect();
                for p in 0..h.len() / 2 {
                    let (lo, hi) = (h[2 * p].min(h[2 * p + 1]), h[2 * p].max(h[2 * p + 1]));
                    h[2 * p] = lo;
                    h[2 * p + 1] = hi;
                }
            }
        }
        let w: Vec<f64> = model
            .head
            .weight
            .val()
            .into_data()
            .convert::<f64>()
            .try_to_vec()
            .unwrap();
        let b: Vec<f64> = model
            .head
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .convert::<f64>()
            .try_to_vec()
            .unwrap();
        let (d, m) = (h.len(), b.len());
        (0..m)
            .map(|o| b[o] + (0..d).map(|i| w[i * m + o] * h[i]).sum::<f64>())
            .collect()
    }

    #[test]
    fn rounding_allowance_covers_the_f32_forward_error() {
        let device = Device::flex();
        device.seed(4);
        let model = small(&device);
        let c = Certifier::new(&model, 0.1, CertifyOptions::sound(Convergence::default())).unwrap();
        // large inputs make the f32 rounding error visible
        let x = Tensor::<4>::random([64, 8, 1, 1], Distribution::Normal(0.0, 300.0), &device);
        let xs: Vec<f64> = x.to_data().convert::<f64>().try_to_vec().unwrap();
        let y32: Vec<f32> = model.forward(x.clone()).into_data().try_to_vec().unwrap();
        let allow = c.rounding_allowance(x);
        let mut worst: f64 = 0.0;
        for (row, a) in allow.iter().enumerate() {
            let a = a.as_ref().unwrap();
            let exact = forward_f64(&model, &xs[row * 8..(row + 1) * 8]);
            let y = &y32[row * 4..(row + 1) * 4];
            let j = argmax(y);
            for i in (0..4).filter(|&i| i != j) {
                let err = ((y[j] as f64 - y[i] as f64) - (exact[j] - exact[i])).abs();
                assert!(
                    err <= a[i].0,
                    "row {row} pair ({j},{i}): error {err} > allowance {}",
                    a[i].0
                );
                worst = worst.max(err / a[i].0);
            }
        }
        // the bound is worst-case, but not vacuous: the error is visible at this scale
        assert!(worst > 1e-4, "error/allowance at most {worst}");
    }

    #[test]
    fn body_error_bound_covers_a_coherent_rounding_error() {
        // every weight and input 1/3 (rounded to f32): the products round the same way and
        // the f32 sums drift coherently, the worst case the γ bound is written for
        let device = Device::flex();
        let mut model = GloroNetConfig::new([1024, 1, 1], vec![], vec![64], 4).init(&device);
        let third = 1.0f32 / 3.0;
        if let crate::model::Layer::Dense(d) = &mut model.layers[1] {
            d.linear.weight = Param::from_tensor(Tensor::full([1024, 64], third, &device));
            d.linear.bias = Some(Param::from_tensor(Tensor::zeros([64], &device)));
        }
        let c = Certifier::new(&model, 0.0, CertifyOptions::sound(Convergence::default())).unwrap();
        let x = Tensor::<4>::full([1, 1024, 1, 1], 1000.0 * third, &device);
        let computed: Vec<f32> = model.features(x.clone()).into_data().try_to_vec().unwrap();
        // exact: 1024 · (1/3)_f32 · (1000/3)_f32 per unit, MinMax of equal pairs is the identity
        let exact = 1024.0 * third as f64 * (1000.0 * third) as f64;
        let err = computed
            .iter()
            .map(|&v| (v as f64 - exact).powi(2))
            .sum::<f64>()
            .sqrt();
        let bound = c.feature_error_bound(x)[0].unwrap();
        eprintln!("coherent rounding: error {err:e}, bound {bound:e}");
        assert!(err > 0.0, "the f32 sum must actually err here");
        assert!(err <= bound, "error {err} above the bound {bound}");
        assert!(
            err >= 0.05 * bound,
            "error {err} vs bound {bound}: the bound is not vacuous"
        );
    }

    #[test]
    fn fails_closed_on_nan_weights_nan_inputs_and_a_zero_k() {
        let device = Device::flex();
        let mut model = small(&device);
        let ok = Certifier::new(&model, 0.1, CertifyOptions::sound(Convergence::default())).unwrap();
        // a NaN input: no certificate, radius 0 (not +∞)
        let mut v = vec![0.5f32; 16];
        v[3] = f32::NAN;
        let x = Tensor::<4>::from_data(TensorData::new(v, [2, 8, 1, 1]), &device);
        let certs = ok.certify(x);
        assert_eq!(
            (certs[0].prediction, certs[0].radius),
            (None, 0.0),
            "{:?}",
            certs[0]
        );
        assert!(
            certs[1].radius > 0.0,
            "the clean row keeps its radius: {:?}",
            certs[1]
        );
        // K = 0 and K = NaN are refused
        assert!(matches!(ok.with_scaled_k(0.0), Err(GloroError::Certifier(_))));
        let ok = Certifier::new(&model, 0.1, CertifyOptions::sound(Convergence::default())).unwrap();
        assert!(matches!(
            ok.with_scaled_k(f64::NAN),
            Err(GloroError::Certifier(_))
        ));
        // a NaN weight: the layer is named, for both bound methods
        if let crate::model::Layer::Dense(d) = &mut model.layers[3] {
            let w = d.linear.weight.val();
            let [i, o] = w.dims();
            let mut data: Vec<f32> = w.into_data().try_to_vec().unwrap();
            data[5] = f32::NAN;
            d.linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(data, [i, o]), &device));
        } else {
            panic!("layer 3 is the second dense layer (after flatten, dense, MinMax)");
        }
        for options in [
            CertifyOptions::sound(Convergence::default()),
            CertifyOptions::power_iteration(Convergence::default()),
        ] {
            match Certifier::new(&model, 0.1, options) {
                Err(GloroError::Bound(e)) => assert_eq!(e.index, 1, "{e}"),
                Err(e) => panic!("{options:?}: wrong error {e}"),
                Ok(c) => panic!("{options:?}: certified with NaN weights, K = {}", c.k),
            }
        }
    }

    #[test]
    fn an_unconverged_power_iteration_fails_closed_and_the_sound_bound_does_not_need_it() {
        let device = Device::flex();
        device.seed(6);
        let model = GloroNetConfig::new([1, 8, 8], vec![ConvSpec::new(4, 3)], vec![], 3).init(&device);
        let tight = Convergence {
            tol: 1e-12,
            max_iters: 10,
        };
        match Certifier::new(&model, 0.1, CertifyOptions::power_iteration(tight)) {
            Err(GloroError::Bound(e)) => assert!(e.message.contains("did not converge"), "{e}"),
            other => panic!("expected a convergence error, got {:?}", other.map(|c| c.k)),
        }
        let c = Certifier::new(&model, 0.1, CertifyOptions::sound(tight)).unwrap();
        assert_eq!(c.layers[0].power_iteration, None);
        assert!(c.k.is_finite() && c.k > 0.0);
    }

    #[test]
    fn certificates_follow_the_radius_and_cost_what_the_allowance_says() {
        let device = Device::flex();
        device.seed(8);
        let model = small(&device);
        let x = Tensor::<4>::random([200, 8, 1, 1], Distribution::Normal(0.0, 1.0), &device);
        let sound = Certifier::new(&model, 0.05, CertifyOptions::sound(Convergence::default())).unwrap();
        let bare = Certifier::new(
            &model,
            0.05,
            CertifyOptions {
                float_margin: false,
                ..CertifyOptions::sound(Convergence::default())
            },
        )
        .unwrap();
        let (a, b) = (sound.certify(x.clone()), bare.certify(x));
        for (s, n) in a.iter().zip(&b) {
            assert_eq!(s.prediction.is_some(), s.radius > 0.05);
            assert!(
                s.radius <= n.radius,
                "the allowance can only shrink radii: {s:?} vs {n:?}"
            );
        }
        assert!(
            a.iter().any(|c| c.radius > 0.0 && c.radius < 1e9),
            "some finite radii: {a:?}"
        );
    }
}
