//! Pre-training configurations: the JSON files in `crates/ssl-dynamics/configs/` (paper Sec. 6
//! recipes for CIFAR-10 and STL-10, the MNIST CPU runs of the report). Every field is required
//! and an unknown one is an error ([`repro_core::config`]); [`PretrainConfig::validate`] checks
//! the ranges.

use crate::augment::Recipe;
use crate::byol::SslConfig;
use crate::error::Result;
use crate::probe::ProbeConfig;
use repro_core::data::{DatasetName, Split};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A full pre-training run: method, data, schedule, monitors and probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// The method (networks, predictor, target, optimiser).
    pub ssl: SslConfig,
    /// The dataset.
    pub dataset: DatasetName,
    /// Splits used for pre-training (STL-10: train + unlabeled).
    pub pretrain_splits: Vec<Split>,
    /// Two-view augmentation recipe.
    pub recipe: Recipe,
    /// Images per step (each gives two views).
    pub batch: usize,
    /// Passes over the pre-training images.
    pub epochs: usize,
    /// Use only the first `n` pre-training images (CPU runs); `null` for all.
    pub train_limit: Option<usize>,
    /// kNN monitor: neighbours.
    pub knn_k: usize,
    /// kNN monitor: how many labelled training images it searches.
    pub knn_train_limit: usize,
    /// The linear probe of the final encoder.
    pub probe: ProbeConfig,
    /// Seed of initialisation, batch order and augmentations.
    pub seed: u64,
}

impl PretrainConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = repro_core::config::load(path)?;
        cfg.validate(&path.display().to_string())?;
        Ok(cfg)
    }

    /// Parses and validates config text from `origin` (a file name, say, for errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let cfg: Self = repro_core::config::parse(text, origin)?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Range checks that the JSON types cannot express; errors name `origin` and the field.
    pub fn validate(&self, origin: &str) -> Result<(), repro_core::Error> {
        let invalid = |field: &str, message: &str| Err(repro_core::Error::invalid(origin, field, message));
        if self.pretrain_splits.is_empty() {
            return invalid("pretrain_splits", "at least one split");
        }
        if self.batch < 2 {
            return invalid("batch", "at least 2 (batch norm needs two samples)");
        }
        if self.knn_k == 0 {
            return invalid("knn_k", "at least 1");
        }
        if self.knn_train_limit == 0 {
            return invalid("knn_train_limit", "at least 1");
        }
        if self.train_limit == Some(0) {
            return invalid("train_limit", "at least 1, or null for all images");
        }
        self.probe.validate(origin)?;
        self.ssl.validate(origin)
    }
}

/// The directory of the shipped configs (for tests and documentation; the report embeds the
/// files it needs).
pub fn configs_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::EncoderKind;

    #[test]
    fn every_shipped_config_loads_and_validates() {
        let mut n = 0;
        for entry in std::fs::read_dir(configs_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let cfg = PretrainConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("cifar10") || name.starts_with("stl10") {
                // The paper's Sec. 6 recipe: ResNet-18, batch 128, 100 epochs.
                assert_eq!((cfg.batch, cfg.epochs), (128, 100), "{name}");
                assert_eq!(cfg.ssl.branch.encoder, EncoderKind::resnet18(64), "{name}");
            }
            n += 1;
        }
        assert_eq!(n, 13, "shipped configs");
    }

    fn shipped() -> String {
        std::fs::read_to_string(configs_dir().join("mnist-byol-directpred.json")).unwrap()
    }

    #[test]
    fn a_misspelt_key_is_rejected_naming_the_field() {
        let text = shipped().replacen("\"weight_decay\": 0.0004", "\"weight_decai\": 0.0004", 1);
        assert_ne!(text, shipped());
        let e = PretrainConfig::parse(&text, "typo.json").unwrap_err().to_string();
        assert!(e.starts_with("typo.json: field `ssl.weight_decai`"), "{e}");
        assert!(e.contains("unknown field `weight_decai`"), "{e}");
        // Nested inside a tagged enum (the DirectPred settings) too.
        let text = shipped().replacen("\"rho\"", "\"rhoo\"", 1);
        let e = PretrainConfig::parse(&text, "typo.json").unwrap_err().to_string();
        assert!(e.starts_with("typo.json: field `ssl.predictor"), "{e}");
        assert!(e.contains("unknown field `rhoo`"), "{e}");
    }

    /// The ResNet encoder's `conv` key: Winograd when absent, `spatial` when asked, and an
    /// error naming the field for anything else.
    #[test]
    fn the_resnet_conv_algorithm_defaults_to_winograd_and_reads_spatial() {
        use repro_core::fast_conv::Algorithm;
        let path = configs_dir().join("cifar10-byol-directpred.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let conv = |text: &str| match PretrainConfig::parse(text, "conv.json")
            .unwrap()
            .ssl
            .branch
            .encoder
        {
            EncoderKind::Resnet18 { conv, .. } => conv,
            other => panic!("{other:?}"),
        };
        let explicit = "\"width\": 64,\n        \"conv\": \"winograd\"";
        assert!(text.contains(explicit), "the shipped config names its algorithm");
        assert_eq!(conv(&text), Algorithm::Winograd);
        assert_eq!(
            conv(&text.replacen(explicit, "\"width\": 64", 1)),
            Algorithm::Winograd
        );
        let spatial = text.replacen("\"conv\": \"winograd\"", "\"conv\": \"spatial\"", 1);
        assert_eq!(conv(&spatial), Algorithm::Spatial);
        let bad = text.replacen("\"conv\": \"winograd\"", "\"conv\": \"fft\"", 1);
        let e = PretrainConfig::parse(&bad, "conv.json").unwrap_err().to_string();
        assert!(e.starts_with("conv.json: field `ssl.branch.encoder"), "{e}");
        assert!(e.contains("fft"), "{e}");
    }

    /// The encoder built from a config computes its convolutions as the config says.
    #[cfg(feature = "flex")]
    #[test]
    fn the_built_encoder_follows_the_configs_conv_algorithm() {
        use repro_core::fast_conv::Algorithm;
        for conv in [Algorithm::Spatial, Algorithm::Winograd] {
            let mut cfg = crate::nets::BranchConfig::new(EncoderKind::resnet18(8));
            cfg.encoder = EncoderKind::Resnet18 { width: 8, conv };
            let branch = cfg.init(&burn::tensor::Device::flex());
            let resnet = branch.encoder.resnet.expect("a ResNet encoder");
            assert_eq!(resnet.conv_algorithm, conv);
        }
    }

    #[test]
    fn an_out_of_range_value_is_rejected_naming_the_field() {
        let text = shipped().replacen("\"rho\": 0.3", "\"rho\": 1.5", 1);
        let e = PretrainConfig::parse(&text, "range.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("range.json: field `ssl.predictor.rho`"), "{e}");
        let text = shipped().replacen("\"momentum\": 0.996", "\"momentum\": 1.5", 1);
        let e = PretrainConfig::parse(&text, "range.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("field `ssl.target.momentum`"), "{e}");
    }
}
