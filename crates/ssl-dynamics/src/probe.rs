//! Linear evaluation (reference `linear_feature_eval.py`): features of un-augmented images
//! from the frozen encoder (running BN statistics), standardised with the training split's
//! statistics, then logistic regression trained by Adam (lr 3e-4, weight decay 1e-3, batch
//! 128, 50 epochs). We report the **final** epoch's test accuracy (the reference reports the
//! best over epochs, which is optimistic); the best is kept for comparison.

use crate::augment::Recipe;
use crate::nets::Encoder;
use burn::module::Module;
use burn::nn::LinearConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::data::dataset::epoch_batches;
use repro_core::data::{ImageBatcher, ImageDataset};
use serde::{Deserialize, Serialize};

/// Probe hyper-parameters (defaults: the reference).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Passes over the labelled training features.
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Adam weight decay.
    pub weight_decay: f64,
    /// Features per step.
    pub batch: usize,
    /// Seed of the probe's initialisation and batch order.
    pub seed: u64,
    /// Use only the first `n` labelled training images (probe and kNN monitor); absent or
    /// `null` for all.
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Use only the first `n` test images (probe and kNN monitor); absent or `null` for all.
    #[serde(default)]
    pub test_limit: Option<usize>,
}

impl ProbeConfig {
    /// Range checks; the error names `origin` and the field (below the pre-training config).
    pub fn validate(&self, origin: &str) -> Result<(), repro_core::Error> {
        if self.epochs == 0 {
            return Err(repro_core::Error::invalid(origin, "probe.epochs", "at least 1"));
        }
        if self.batch == 0 {
            return Err(repro_core::Error::invalid(origin, "probe.batch", "at least 1"));
        }
        if self.train_limit == Some(0) || self.test_limit == Some(0) {
            return Err(repro_core::Error::invalid(
                origin,
                "probe.train_limit/test_limit",
                "at least 1, or null for all images",
            ));
        }
        if self.lr.is_nan() || self.lr <= 0.0 {
            return Err(repro_core::Error::invalid(
                origin,
                "probe.lr",
                format!("{} is not > 0", self.lr),
            ));
        }
        Ok(())
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            epochs: 50,
            lr: 3e-4,
            weight_decay: 1e-3,
            batch: 128,
            seed: 0,
            train_limit: None,
            test_limit: None,
        }
    }
}

/// Probe accuracies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Test accuracy after the last epoch (what we report).
    pub final_acc: f64,
    /// Best test accuracy over epochs (the reference's number).
    pub best_acc: f64,
    /// Training accuracy after the last epoch.
    pub train_acc: f64,
}

/// Row-major features `[n, dim]` of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Row-major values.
    pub values: Vec<f32>,
    /// Class of every row.
    pub labels: Vec<u8>,
    /// Row width.
    pub dim: usize,
}

impl Features {
    /// Rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Features of every image of `data` (in order), un-augmented and normalised by `recipe`.
pub fn extract_features(encoder: &Encoder, data: &ImageDataset, recipe: Recipe, device: &Device) -> Features {
    let encoder = encoder.valid();
    let batcher = ImageBatcher::unit();
    let mut values = vec![];
    let mut dim = 0;
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(256) {
        let b = batcher.batch_indices(data, chunk, device);
        let f = encoder.forward(recipe.finish(b.images));
        dim = f.dims()[1];
        values.extend(
            f.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default(),
        );
    }
    Features {
        values,
        labels: data.labels().to_vec(),
        dim,
    }
}

/// Standardises both sets with the per-dimension mean and std of `train`.
pub fn standardize(train: &mut Features, test: &mut Features) {
    let (d, n) = (train.dim, train.len().max(1));
    let mut mean = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for row in train.values.chunks(d) {
        for j in 0..d {
            mean[j] += row[j] as f64;
            sq[j] += (row[j] as f64).powi(2);
        }
    }
    let std: Vec<f64> = (0..d)
        .map(|j| {
            mean[j] /= n as f64;
            (sq[j] / n as f64 - mean[j] * mean[j]).max(0.0).sqrt().max(1e-6)
        })
        .collect();
    for set in [train, test] {
        for row in set.values.chunks_mut(d) {
            for j in 0..d {
                row[j] = ((row[j] as f64 - mean[j]) / std[j]) as f32;
            }
        }
    }
}

fn accuracy(logits: Tensor<2>, labels: &[u8]) -> usize {
    let pred: Vec<i64> = logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap_or_default();
    pred.iter().zip(labels).filter(|(p, l)| **p == **l as i64).count()
}

/// Trains a logistic-regression probe on (already standardised) features.
pub fn linear_probe(
    train: &Features,
    test: &Features,
    classes: usize,
    cfg: ProbeConfig,
    device: &Device,
) -> ProbeResult {
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let d = train.dim;
    let mut model = LinearConfig::new(d, classes).init(&ad);
    let mut optim = AdamConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
        .init();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let xs = Tensor::<2>::from_data(TensorData::new(train.values.clone(), [train.len(), d]), &ad);
    let ys: Vec<i64> = train.labels.iter().map(|&l| l as i64).collect();
    let ys = Tensor::<1, Int>::from_data(TensorData::new(ys, [train.len()]), &ad);
    let xt = Tensor::<2>::from_data(TensorData::new(test.values.clone(), [test.len(), d]), device);
    let mut best = 0.0f64;
    let mut last = 0.0;
    for epoch in 0..cfg.epochs {
        for batch in epoch_batches(train.len(), cfg.batch, Some(cfg.seed), epoch, false) {
            let idx: Vec<i64> = batch.iter().map(|&i| i as i64).collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [batch.len()]), &ad);
            let x = xs.clone().select(0, idx.clone());
            let y = ys.clone().select(0, idx);
            let loss = ce.forward(model.forward(x), y);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr, model, grads);
        }
        let valid = model.valid();
        last = accuracy(valid.forward(xt.clone()), &test.labels) as f64 / test.len().max(1) as f64;
        best = best.max(last);
    }
    let valid = model.valid();
    let xs_plain = Tensor::<2>::from_data(TensorData::new(train.values.clone(), [train.len(), d]), device);
    let train_acc = accuracy(valid.forward(xs_plain), &train.labels) as f64 / train.len().max(1) as f64;
    ProbeResult {
        final_acc: last,
        best_acc: best,
        train_acc,
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn probe_beats_chance_on_separable_gaussians() {
        // Four classes, class means on different axes plus noise, 8-d features.
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut make = |n: usize| {
            let mut values = vec![];
            let mut labels = vec![];
            for i in 0..n {
                let c = (i % 4) as u8;
                for j in 0..8 {
                    let mean = if j == c as usize { 2.0 } else { 0.0 };
                    values.push(mean + rng.random_range(-1.0f32..1.0));
                }
                labels.push(c);
            }
            Features {
                values,
                labels,
                dim: 8,
            }
        };
        let (mut tr, mut te) = (make(800), make(400));
        standardize(&mut tr, &mut te);
        let cfg = ProbeConfig {
            epochs: 20,
            lr: 1e-2,
            ..ProbeConfig::default()
        };
        let r = linear_probe(&tr, &te, 4, cfg, &Device::flex());
        assert!(r.final_acc > 0.9, "{r:?}");
        assert!(r.best_acc >= r.final_acc);
    }
}
