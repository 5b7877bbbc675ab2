//! Training configurations: JSON files under `crates/gloro/configs/` (the paper's recipes), all
//! fields documented here. Unknown fields are rejected so a typo is an error, not a default.

use crate::certify::Convergence;
use crate::lipschitz::Init;
use crate::loss::LossKind;
use crate::margin::MarginForm;
use crate::model::{Activation, Architecture};
use crate::schedule::{EpsSchedule, LambdaSchedule, LrSchedule};
use repro_core::data::DatasetName;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

fn default_adam_epsilon() -> f64 {
    1e-7
}
fn default_power_iterations() -> usize {
    10
}
fn default_overshoot() -> f64 {
    1.0
}
fn default_eval_batch() -> usize {
    1000
}

/// Everything a training run needs besides data location, device and seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Free-form description shown in reports.
    #[serde(default)]
    pub description: String,
    /// Dataset trained and certified on.
    pub dataset: DatasetName,
    /// Network (§6: 2C2F, 4C3F, 6C2F, 8C2F).
    pub architecture: Architecture,
    #[serde(default = "default_activation")]
    /// MinMax (the paper's) or ReLU.
    pub activation: Activation,
    #[serde(default = "default_init")]
    /// Weight initialisation.
    pub init: Init,
    /// Radius certified at evaluation.
    pub eps: f64,
    /// Target training radius (the reference trains at a larger ε than it certifies).
    pub train_eps: f64,
    #[serde(default = "default_eps_schedule")]
    /// How the training radius grows to `train_eps`.
    pub eps_schedule: EpsSchedule,
    /// Multiplies `train_eps` at the end of the schedule (1.0: none).
    #[serde(default = "default_overshoot")]
    pub overshoot: f64,
    /// Training loss over the m+1 logits (§5).
    pub loss: LossKind,
    /// λ of the TRADES losses (unused by cross-entropy).
    #[serde(default = "default_lambda")]
    pub lambda: LambdaSchedule,
    /// Training epochs.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Learning-rate schedule.
    pub lr: LrSchedule,
    /// Adam's ε (the reference's Keras default).
    #[serde(default = "default_adam_epsilon")]
    pub adam_epsilon: f64,
    /// Power iterations per layer per training step.
    #[serde(default = "default_power_iterations")]
    pub power_iterations: usize,
    #[serde(default)]
    /// Power-iteration convergence for the per-epoch estimate.
    pub convergence: Convergence,
    #[serde(default = "default_margin")]
    /// Tight per-pair ⊥ margin (Eq. 5) or the naive global one.
    pub margin: MarginForm,
    /// Random resized crop, flip, saturation/contrast jitter and noise (CIFAR recipes).
    #[serde(default)]
    pub augment: bool,
    /// Train on at most this many images (0: all).
    #[serde(default)]
    pub train_limit: usize,
    /// Evaluate on at most this many test images (0: all).
    #[serde(default)]
    pub test_limit: usize,
    #[serde(default = "default_eval_batch")]
    /// Images per forward pass at evaluation.
    pub eval_batch: usize,
}

fn default_activation() -> Activation {
    Activation::MinMax
}
fn default_init() -> Init {
    Init::Orthogonal
}
fn default_eps_schedule() -> EpsSchedule {
    EpsSchedule::Fixed
}
fn default_lambda() -> LambdaSchedule {
    LambdaSchedule::constant(0.0)
}
fn default_margin() -> MarginForm {
    MarginForm::Tight
}

impl TrainConfig {
    /// Reads and validates a JSON configuration ([`repro_core::config::load`]: unknown fields
    /// are errors naming the file and field).
    pub fn load(path: &Path) -> Result<Self, repro_core::Error> {
        let cfg: Self = repro_core::config::load(path)?;
        cfg.validate(&path.display().to_string())?;
        Ok(cfg)
    }

    /// Checks ranges a JSON schema cannot express; `origin` names the file in errors.
    pub fn validate(&self, origin: &str) -> Result<(), repro_core::Error> {
        let bad = |field: &str, message: &str| Err(repro_core::Error::invalid(origin, field, message));
        if self.eps.is_nan() || self.eps <= 0.0 {
            return bad("eps", "must be positive");
        }
        if self.train_eps.is_nan() || self.train_eps <= 0.0 {
            return bad("train_eps", "must be positive");
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if self.lr.base.is_nan() || self.lr.floor.is_nan() || self.lr.base <= 0.0 || self.lr.floor <= 0.0 {
            return bad("lr", "base and floor must be positive");
        }
        if self.power_iterations == 0 {
            return bad("power_iterations", "must be at least 1");
        }
        if !(self.convergence.tol > 0.0 && self.convergence.tol.is_finite()) {
            return bad("convergence.tol", "must be positive and finite");
        }
        Ok(())
    }

    /// `[channels, height, width]` and class count of the dataset.
    pub fn input_shape(&self) -> ([usize; 3], usize) {
        match self.dataset {
            DatasetName::Mnist | DatasetName::FashionMnist => ([1, 28, 28], 10),
            DatasetName::Cifar10 => ([3, 32, 32], 10),
            DatasetName::Stl10 => ([3, 96, 96], 10),
            DatasetName::TinyImagenet => ([3, 64, 64], 200),
        }
    }

    /// The network this configuration trains.
    pub fn network(&self) -> crate::model::GloroNetConfig {
        let (input, classes) = self.input_shape();
        self.architecture
            .config(input, classes)
            .with_activation(self.activation)
            .with_init(self.init)
    }
}

/// The configuration files shipped in `crates/gloro/configs/`.
pub fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_configs_parse_and_validate() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(configs_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                TrainConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                names.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        for paper in [
            "mnist-0.3.json",
            "mnist-1.58.json",
            "cifar10-36.json",
            "tiny-imagenet-36.json",
        ] {
            assert!(names.iter().any(|n| n == paper), "{paper} not among {names:?}");
        }
    }

    /// The reference's Tiny-ImageNet GloRo-T run (`snapshot/code/scripts/train_tiny-imagenet_gloro_t.sh`
    /// in klasleino/gloro's `snapshots/leino21_snapshot.zip`) on the library's 8C2F.
    #[test]
    fn tiny_imagenet_config_is_the_reference_recipe() {
        let cfg = TrainConfig::load(&configs_dir().join("tiny-imagenet-36.json")).unwrap();
        assert_eq!(cfg.dataset, DatasetName::TinyImagenet);
        assert_eq!(cfg.architecture, Architecture::C8F2);
        assert_eq!(cfg.input_shape(), ([3, 64, 64], 200));
        assert!((cfg.eps - 36.0 / 255.0).abs() < 1e-12);
        assert_eq!((cfg.train_eps, cfg.overshoot), (0.16, 1.0));
        assert_eq!(cfg.eps_schedule, EpsSchedule::Fixed);
        assert_eq!(cfg.loss, LossKind::TradesKl);
        // np.linspace(0.5, 20, 500), one value per epoch
        assert_eq!((cfg.lambda.at(0), cfg.lambda.at(499)), (0.5, 20.0));
        assert!((cfg.lambda.at(1) - (0.5 + 19.5 / 499.0)).abs() < 1e-12);
        assert_eq!((cfg.epochs, cfg.batch_size, cfg.power_iterations), (500, 256, 1));
        assert_eq!(cfg.lr.at(249, 500), 2.5e-4);
        assert!((cfg.lr.at(500, 500) - 5e-7).abs() < 1e-18);
        assert!(cfg.augment);
    }

    #[test]
    fn typos_and_bad_values_name_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        let good = std::fs::read_to_string(configs_dir().join("mnist-0.3.json")).unwrap();
        std::fs::write(&p, good.replace("\"epochs\"", "\"epoch\"")).unwrap();
        let err = TrainConfig::load(&p).unwrap_err().to_string();
        assert!(err.contains("c.json") && err.contains("epoch"), "{err}");
        std::fs::write(&p, good.replace("\"eps\": 0.3", "\"eps\": -1")).unwrap();
        let err = TrainConfig::load(&p).unwrap_err().to_string();
        assert!(err.contains("`eps`") && err.contains("positive"), "{err}");
    }
}

#[cfg(all(test, feature = "flex"))]
mod model_tests {
    use super::*;
    use crate::margin::gloro_logits;
    use burn::tensor::{Device, Distribution, Tensor};

    /// The Tiny-ImageNet configuration builds 8C2F for 3×64×64 inputs and 200 classes, and the
    /// GloRo Net has 201 outputs (200 classes and ⊥).
    #[test]
    fn tiny_imagenet_config_builds_8c2f_with_201_outputs() {
        let cfg = TrainConfig::load(&configs_dir().join("tiny-imagenet-36.json")).unwrap();
        let device = Device::flex();
        let net = cfg.network().init(&device);
        let x = Tensor::<4>::random([2, 3, 64, 64], Distribution::Uniform(0.0, 1.0), &device);
        assert_eq!(net.features(x.clone()).dims(), [2, 256]);
        let y = net.forward(x);
        assert_eq!(y.dims(), [2, 200]);
        let k = net.lipschitz(cfg.power_iterations);
        assert_eq!(
            net.layer_bounds().len(),
            9,
            "8 convolutions and 1 hidden dense layer"
        );
        let out = gloro_logits(y, net.class_weights(), k, cfg.eps, cfg.margin);
        assert_eq!(out.dims(), [2, 201]);
        let values = out.into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
    }
}
