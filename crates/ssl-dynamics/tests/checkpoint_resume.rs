//! `ssl-dynamics train` checkpoints after every epoch and `--resume` continues from there.

use burn::tensor::Device;
use repro_core::data::{DataArgs, DatasetName, Split, load};
use repro_core::train::{Checkpointer, RunDir};
use ssl_dynamics::augment::Recipe;
use ssl_dynamics::byol::SslConfig;
use ssl_dynamics::nets::{BranchConfig, EncoderKind};
use ssl_dynamics::predictor::PredictorKind;
use ssl_dynamics::probe::{ProbeConfig, extract_features};
use ssl_dynamics::train::{LoopState, PretrainConfig, RunData, pretrain_resumable};

fn config(epochs: usize) -> PretrainConfig {
    let branch = BranchConfig::new(EncoderKind::SmallConv {
        channels: vec![8, 16],
        strides: vec![2, 2],
    })
    .with_in_channels(1)
    .with_projector_hidden(64)
    .with_projector_out(32);
    PretrainConfig {
        ssl: SslConfig {
            copy_target_at_start: true,
            ..SslConfig::byol(branch, PredictorKind::direct_pred())
        },
        dataset: DatasetName::Mnist,
        pretrain_splits: vec![Split::Train],
        recipe: Recipe::Mnist,
        batch: 64,
        epochs,
        train_limit: None,
        knn_k: 5,
        knn_train_limit: 256,
        probe: ProbeConfig {
            epochs: 1,
            ..ProbeConfig::default()
        },
        seed: 3,
    }
}

fn data() -> RunData {
    let args = DataArgs::default();
    let train = load(DatasetName::Mnist, Split::Train, &args).unwrap().dataset;
    let test = load(DatasetName::Mnist, Split::Test, &args).unwrap().dataset;
    RunData {
        pretrain: train.take(256),
        train: train.take(256),
        test: test.take(128),
        embedded_subset: true,
    }
}

#[test]
fn resumed_run_continues_from_the_latest_checkpoint() {
    let data = data();
    let root = tempfile::tempdir().unwrap();
    let run = RunDir::create(root.path(), "ssl-dynamics", "ck", false).unwrap();
    let (first, r1) = pretrain_resumable(&config(1), &data, &run, false).unwrap();
    assert_eq!(first.step, 4);
    let ck = Checkpointer::new(&run);
    let latest = ck.latest::<LoopState>().unwrap().unwrap();
    assert_eq!((latest.step, latest.state.epoch, latest.state.step), (4, 1, 4));
    assert!(latest.state.directpred.is_some());
    let plain = Device::flex();
    let probe_imgs = data.test.take(32);
    let features = |t: &ssl_dynamics::byol::SslTrainer| {
        extract_features(&t.encoder(), &probe_imgs, Recipe::Mnist, &plain).values
    };

    // Resuming a finished run trains nothing and gives back the checkpointed networks.
    let run = RunDir::create(root.path(), "ssl-dynamics", "ck", true).unwrap();
    let (same, r_same) = pretrain_resumable(&config(1), &data, &run, true).unwrap();
    assert_eq!(same.step, 4);
    assert_eq!(r_same.logs.len(), 1);
    assert_eq!(features(&same), features(&first));
    let dp_a = first.directpred.as_ref().unwrap().estimator.clone();
    let dp_b = same.directpred.as_ref().unwrap().estimator.clone();
    assert_eq!(dp_a.updates, dp_b.updates);
    assert!((dp_a.corr.unwrap() - dp_b.corr.unwrap()).amax() < 1e-12);
    assert_eq!(
        same.online().predictor.linear_weight(),
        first.online().predictor.linear_weight()
    );

    // Resuming with more epochs continues at step 4 and appends to the logs and metrics.
    let (more, r2) = pretrain_resumable(&config(2), &data, &run, true).unwrap();
    assert_eq!(more.step, 8);
    assert_eq!(r2.logs.len(), 2);
    assert_eq!(r2.logs[0].loss, r1.logs[0].loss);
    assert_eq!(r2.logs[1].step, 8);
    assert_eq!(r2.losses.len(), 8);
    assert_eq!(&r2.losses[..4], &r1.losses[..]);
    assert!(r2.losses.iter().all(|l| l.is_finite()));
    assert_ne!(features(&more), features(&first));
    assert_eq!(run.read_metrics().unwrap().len(), 2);
    let latest = ck.latest::<LoopState>().unwrap().unwrap();
    assert_eq!((latest.step, latest.state.epoch), (8, 2));
}
