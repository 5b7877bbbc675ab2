//! `ssl-dynamics train` checkpoints after every epoch and `--resume` continues from there.

#![cfg(feature = "flex")]

use burn::tensor::{Device, Distribution, Tensor};
use repro_core::data::{DataArgs, DatasetName, Split, load};
use repro_core::train::{Checkpointer, RunDir, float_values};
use ssl_dynamics::augment::Recipe;
use ssl_dynamics::byol::{SslConfig, SslTrainer};
use ssl_dynamics::config::PretrainConfig;
use ssl_dynamics::nets::{BranchConfig, EncoderKind};
use ssl_dynamics::predictor::PredictorKind;
use ssl_dynamics::probe::ProbeConfig;
use ssl_dynamics::train::{EpochLog, LoopState, PretrainResult, RunData, load_encoder, pretrain_resumable};

/// BYOL with an SGD-trained linear predictor and DirectPred would each leave part of the state
/// untested; `freq: 2` trains the predictor by SGD between the steps that set it from `F̂`, so
/// the checkpoint must carry networks, target, momentum buffers and the `F̂` estimate.
fn config(epochs: usize) -> PretrainConfig {
    let branch = BranchConfig::new(EncoderKind::SmallConv {
        channels: vec![8, 16],
        strides: vec![2, 2],
    })
    .with_in_channels(1)
    .with_projector_hidden(64)
    .with_projector_out(32);
    let mut predictor = PredictorKind::direct_pred();
    if let PredictorKind::DirectPred(c) = &mut predictor {
        c.freq = 2;
    }
    PretrainConfig {
        ssl: SslConfig {
            copy_target_at_start: true,
            ..SslConfig::byol(branch, predictor)
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

/// Everything in an epoch log but the wall-clock fields.
fn numbers(l: &EpochLog) -> (usize, usize, f64, f64, f64, f64) {
    (l.epoch, l.step, l.loss, l.z_std, l.p_std, l.knn_acc)
}

/// One more step on fixed views from the trainer's state: the update mixes in the momentum
/// buffers, so equal results after it mean equal optimiser states.
fn next_step(trainer: &mut SslTrainer) -> Vec<Vec<f32>> {
    let plain = Device::flex();
    plain.seed(77);
    let v1 = Tensor::<4>::random([16, 1, 28, 28], Distribution::Default, &plain);
    let v2 = Tensor::<4>::random([16, 1, 28, 28], Distribution::Default, &plain);
    let d = trainer.device.clone();
    trainer
        .train_step(
            Tensor::from_data(v1.into_data(), &d),
            Tensor::from_data(v2.into_data(), &d),
        )
        .unwrap();
    float_values(&trainer.networks())
}

fn assert_same_run(a: &(SslTrainer, PretrainResult), b: &(SslTrainer, PretrainResult)) {
    assert_eq!(a.0.step, b.0.step);
    assert_eq!(a.1.losses, b.1.losses, "per-step losses");
    let (la, lb): (Vec<_>, Vec<_>) = (
        a.1.logs.iter().map(numbers).collect(),
        b.1.logs.iter().map(numbers).collect(),
    );
    assert_eq!(la, lb, "epoch logs");
    assert_eq!(a.1.probe, b.1.probe, "probe");
    assert!(
        float_values(&a.0.networks()) == float_values(&b.0.networks()),
        "online and target weights, BN statistics"
    );
    let (ea, eb) = (
        &a.0.directpred.as_ref().unwrap().estimator,
        &b.0.directpred.as_ref().unwrap().estimator,
    );
    assert_eq!(ea, eb, "DirectPred estimate");
}

/// A run killed after its first epoch's checkpoint and resumed to two epochs equals one that
/// ran two epochs without interruption.
///
/// Bit-exact on the same backend and thread count: online and target weights, batch-norm
/// statistics, momentum buffers, the DirectPred estimate (its `f64` values round-trip exactly
/// through JSON), step count, per-step losses, the monitors and the probe, and the encoder
/// file's values. This holds because the batch order is a function of (seed, epoch) and every epoch
/// after the first reseeds the device's augmentation stream from (seed, epoch), so a resumed
/// epoch draws the same crops as an uninterrupted one. Not bit-exact: the wall-clock fields of
/// the logs (`seconds`, `eig_share`); a resume on another backend or thread count (another
/// floating-point summation order); GPU backends whose reductions are not deterministic.
#[test]
fn a_killed_and_resumed_run_matches_an_uninterrupted_one() {
    let data = data();
    let root = tempfile::tempdir().unwrap();
    let flex = Device::flex();

    let straight_dir = RunDir::create(root.path(), "ssl-dynamics", "straight", false).unwrap();
    let mut straight = pretrain_resumable(&config(2), &data, &straight_dir, false, &flex).unwrap();

    // The first epoch, then a restart from its checkpoint.
    let run = RunDir::create(root.path(), "ssl-dynamics", "killed", false).unwrap();
    let first = pretrain_resumable(&config(1), &data, &run, false, &flex).unwrap();
    let ck = Checkpointer::new(&run);
    let latest = ck.latest::<LoopState>().unwrap().unwrap();
    assert_eq!((latest.step, latest.state.epoch, latest.state.step), (4, 1, 4));
    let run = RunDir::create(root.path(), "ssl-dynamics", "killed", true).unwrap();
    let mut resumed = pretrain_resumable(&config(2), &data, &run, true, &flex).unwrap();

    assert_eq!(resumed.0.step, 8);
    assert_eq!(&resumed.1.losses[..4], &first.1.losses[..]);
    assert_same_run(&straight, &resumed);
    // The saved encoders hold the same values (their files differ in parameter ids).
    let saved = |dir: &RunDir| {
        let fresh = config(2).ssl.branch.init(&flex).encoder;
        float_values(&load_encoder(fresh, &dir.file("encoder.bpk")).unwrap())
    };
    assert!(saved(&straight_dir) == saved(&run), "saved encoders");
    assert_eq!(run.read_metrics().unwrap().len(), 2);
    let latest = ck.latest::<LoopState>().unwrap().unwrap();
    assert_eq!((latest.step, latest.state.epoch), (8, 2));
    // The second epoch changed the networks (a resume that trained nothing would fail here).
    assert!(float_values(&first.0.networks()) != float_values(&resumed.0.networks()));
    // Same optimiser state: one more step from each gives the same networks.
    assert!(
        next_step(&mut straight.0) == next_step(&mut resumed.0),
        "momentum buffers"
    );

    // Resuming a finished run trains nothing and gives back the checkpointed state.
    let again = pretrain_resumable(&config(2), &data, &run, true, &flex).unwrap();
    assert_eq!(again.0.step, 8);
    assert_eq!(again.1.losses, straight.1.losses);
}
