//! The 2-D toy problem: two interleaved half-moons, a small dense GloRo Net, and a plot of
//! its decision regions with the ⊥ band between them (the picture of the paper's Fig. 2).

use crate::certify::{Certifier, CertifyOptions, Convergence};
use crate::error::Result;
use crate::loss::{LossKind, gloro_loss};
use crate::margin::{MarginForm, gloro_logits};
use crate::model::{Activation, GloroNet, GloroNetConfig};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use repro_core::plot::{Heatmap, heatmap};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `n` points of two moons with Gaussian noise `noise`, labels 0/1, seeded.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> (Vec<[f32; 2]>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pts = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let t = rng.random::<f64>() * std::f64::consts::PI;
        let (x, y, l) = if i % 2 == 0 {
            (t.cos(), t.sin(), 0)
        } else {
            (1.0 - t.cos(), 0.5 - t.sin(), 1)
        };
        let gauss = |rng: &mut StdRng| {
            // Box–Muller
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        pts.push([
            (x + noise * gauss(&mut rng)) as f32,
            (y + noise * gauss(&mut rng)) as f32,
        ]);
        labels.push(l);
    }
    (pts, labels)
}

/// Settings of the toy run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToyConfig {
    /// Training points.
    pub points: usize,
    /// Standard deviation of the Gaussian noise added to the moons.
    pub noise: f64,
    /// Radius certified and trained for.
    pub eps: f64,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Full-batch Adam steps.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// Seed of the data and the initialisation.
    pub seed: u64,
}

impl Default for ToyConfig {
    fn default() -> Self {
        Self {
            points: 1000,
            noise: 0.1,
            eps: 0.15,
            hidden: vec![64, 64, 64],
            steps: 600,
            lr: 3e-3,
            seed: 0,
        }
    }
}

/// Result of [`run`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToyResult {
    /// Training accuracy.
    pub clean_accuracy: f64,
    /// Training VRA at ε.
    pub vra: f64,
    /// Sound body bound K.
    pub k: f64,
}

fn as_tensor(pts: &[[f32; 2]], device: &Device) -> Tensor<4> {
    let flat: Vec<f32> = pts.iter().flat_map(|p| p.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [pts.len(), 2, 1, 1]), device)
}

/// Trains a dense GloRo Net on two moons; returns the model (inference copy) and its
/// certification on a fresh test sample.
pub fn run(cfg: &ToyConfig, device: &Device) -> Result<(GloroNet, ToyResult)> {
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let (pts, labels) = two_moons(cfg.points, cfg.noise, cfg.seed);
    let x = as_tensor(&pts, &ad);
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(
            labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
            [labels.len()],
        ),
        &ad,
    );
    let mut model = GloroNetConfig::new([2, 1, 1], vec![], cfg.hidden.clone(), 2)
        .with_activation(Activation::MinMax)
        .init(&ad);
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    for step in 0..cfg.steps {
        // ε ramps up over the first third: robust training from the start is slower to fit
        let eps = cfg.eps * ((step as f64 + 1.0) / (cfg.steps as f64 / 3.0)).min(1.0);
        let logits = model.forward(x.clone());
        let k = model.lipschitz(5);
        let ext = gloro_logits(logits, model.class_weights(), k, eps, MarginForm::Tight);
        let loss = gloro_loss(LossKind::CrossEntropy, ext, y.clone(), 0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
    }
    let model = model.valid();
    let (test_pts, test_labels) = two_moons(cfg.points, cfg.noise, cfg.seed + 1);
    let certifier = Certifier::new(&model, cfg.eps, CertifyOptions::sound(Convergence::default()))?;
    let ev = certifier.evaluate(&as_tensor(&test_pts, device), &test_labels, 1000);
    let result = ToyResult {
        clean_accuracy: ev.clean_accuracy,
        vra: ev.vra,
        k: ev.k,
    };
    Ok((model, result))
}

/// Plots decision regions (class 0, class 1, ⊥) over the plane with the training points.
pub fn plot(model: &GloroNet, cfg: &ToyConfig, path: &Path, device: &Device) -> Result<()> {
    let (x_range, y_range, res) = ((-1.5, 2.5), (-1.0, 1.5), 160usize);
    let mut grid = Vec::with_capacity(res * res);
    for r in 0..res {
        for c in 0..res {
            let gx = x_range.0 + (c as f64 + 0.5) * (x_range.1 - x_range.0) / res as f64;
            let gy = y_range.0 + (r as f64 + 0.5) * (y_range.1 - y_range.0) / res as f64;
            grid.push([gx as f32, gy as f32]);
        }
    }
    let certifier = Certifier::new(model, cfg.eps, CertifyOptions::sound(Convergence::default()))?;
    let certs = certifier.certify(as_tensor(&grid, device));
    let values: Vec<Vec<f64>> = certs
        .chunks(res)
        .map(|row| {
            row.iter()
                .map(|c| c.prediction.map_or(7.0, |p| p as f64))
                .collect()
        })
        .collect();
    let (pts, labels) = two_moons(300, cfg.noise, cfg.seed);
    let map = Heatmap {
        title: format!("GloRo decision regions, eps = {} (grey: bottom)", cfg.eps),
        x_label: "x0".into(),
        y_label: "x1".into(),
        x_range,
        y_range,
        values,
        points: pts
            .iter()
            .zip(&labels)
            .map(|(p, &l)| (p[0] as f64, p[1] as f64, l as usize))
            .collect(),
        categorical: true,
        ..Default::default()
    };
    Ok(heatmap(path, &map)?)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    #[test]
    fn two_moons_trains_to_high_vra_and_plots() {
        let device = Device::flex();
        let cfg = ToyConfig::default();
        let (model, result) = run(&cfg, &device).unwrap();
        eprintln!("toy: {result:?}");
        assert!(result.vra > 0.93, "VRA {} at eps {}", result.vra, cfg.eps);
        assert!(result.clean_accuracy >= result.vra);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moons.png");
        plot(&model, &cfg, &path, &device).unwrap();
        assert!(path.metadata().unwrap().len() > 2000);
        let _ = model.num_params();
    }
}
