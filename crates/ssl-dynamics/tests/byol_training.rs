//! BYOL/SimSiam with DirectPred on real data (embedded MNIST subset), at toy sizes.

#![cfg(feature = "flex")]

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use repro_core::data::dataset::epoch_batches;
use repro_core::data::{DataArgs, DatasetName, ImageBatcher, ImageDataset, Split, load};
use ssl_dynamics::augment::Recipe;
use ssl_dynamics::byol::{SslConfig, SslTrainer, StepStats};
use ssl_dynamics::directpred::predictor_weight;
use ssl_dynamics::ema::ema_update;
use ssl_dynamics::monitor::healthy_std;
use ssl_dynamics::nets::{BranchConfig, EncoderKind};
use ssl_dynamics::predictor::PredictorKind;
use ssl_dynamics::train::{load_encoder, save_encoder};

fn tiny_branch() -> BranchConfig {
    BranchConfig::new(EncoderKind::SmallConv {
        channels: vec![8, 16],
        strides: vec![2, 2],
    })
    .with_in_channels(1)
    .with_projector_hidden(64)
    .with_projector_out(32)
}

fn mnist() -> ImageDataset {
    load(DatasetName::Mnist, Split::Train, &DataArgs::default())
        .unwrap()
        .dataset
        .take(2048)
}

fn run(trainer: &mut SslTrainer, data: &ImageDataset, steps: usize) -> Vec<StepStats> {
    let batcher = ImageBatcher::unit();
    let mut out = vec![];
    let mut epoch = 0;
    while out.len() < steps {
        for b in epoch_batches(data.len(), 64, Some(3), epoch, true) {
            if out.len() == steps {
                break;
            }
            let x = batcher.batch_indices(data, &b, &trainer.device).images;
            let (v1, v2) = (Recipe::Mnist.view(x.clone()), Recipe::Mnist.view(x));
            out.push(trainer.train_step(v1, v2).unwrap());
        }
        epoch += 1;
    }
    out
}

fn mean(v: &[StepStats], f: impl Fn(&StepStats) -> f64) -> f64 {
    v.iter().map(f).sum::<f64>() / v.len() as f64
}

#[test]
fn byol_directpred_steps_decrease_the_loss_keep_outputs_spread_and_set_w_p_from_f_hat() {
    let device = Device::flex().autodiff();
    device.seed(1);
    let data = mnist();
    let mut trainer = SslTrainer::new(
        SslConfig::byol(tiny_branch(), PredictorKind::direct_pred()),
        &device,
    )
    .unwrap();
    let stats = run(&mut trainer, &data, 40);
    let first = mean(&stats[..8], |s| s.loss);
    let last = mean(&stats[32..], |s| s.loss);
    assert!(last < first - 0.1, "loss {first} -> {last}");
    let z_std = stats.last().unwrap().z_std;
    assert!(z_std > 0.2 * healthy_std(32), "outputs collapsed: {z_std}");
    assert!(stats.iter().all(|s| s.loss.is_finite()));
    // The predictor holds exactly the DirectPred weight of the current estimate.
    let dp = trainer.directpred.as_ref().unwrap();
    let expect = predictor_weight(&dp.estimator.matrix(false).unwrap(), dp.config.formula, 0.01).unwrap();
    let got = trainer.online().predictor.linear_weight().unwrap();
    assert!(
        (&got - &expect).amax() < 1e-5,
        "W_p differs by {}",
        (&got - &expect).amax()
    );
    assert!((&got - got.transpose()).amax() < 1e-6);
}

/// Steps of [`every_predictor_and_target_kind_learns_without_collapsing`].
const STEPS: usize = 40;

/// Each predictor (MLP, SGD-trained linear, DirectCopy, DirectPred) with each target (EMA,
/// online) learns: the mean loss of the last 8 of 40 steps is below that of the first 8, and
/// the projector outputs stay spread over the sphere (collapse monitor above a fifth of
/// `1/√d`).
#[test]
fn every_predictor_and_target_kind_learns_without_collapsing() {
    let device = Device::flex().autodiff();
    device.seed(2);
    let data = mnist();
    let kinds = [
        SslConfig::byol(tiny_branch(), PredictorKind::Mlp { hidden: 64 }),
        SslConfig::byol(tiny_branch(), PredictorKind::Linear),
        SslConfig::simsiam(tiny_branch(), PredictorKind::direct_copy()),
        SslConfig::simsiam(tiny_branch(), PredictorKind::direct_pred()),
    ];
    for cfg in kinds {
        let label = format!("{} / {:?}", cfg.predictor.label(), cfg.target);
        let mut t = SslTrainer::new(cfg, &device).unwrap();
        let s = run(&mut t, &data, STEPS);
        let first = mean(&s[..8], |x| x.loss);
        let last = mean(&s[STEPS - 8..], |x| x.loss);
        let z_std = mean(&s[STEPS - 8..], |x| x.z_std);
        eprintln!("{label}: loss {first:.4} -> {last:.4}, z-std {z_std:.4}");
        assert!(last < first - LOSS_DROP, "{label}: loss {first} -> {last}");
        assert!(
            z_std > 0.2 * healthy_std(32),
            "{label}: outputs collapsed, z-std {z_std}"
        );
    }
    // No stop-gradient only makes sense without an EMA target.
    let mut bad = SslConfig::byol(tiny_branch(), PredictorKind::Linear);
    bad.stop_gradient = false;
    let e = SslTrainer::new(bad, &device).err().unwrap().to_string();
    assert!(e.contains("ssl.stop_gradient"), "{e}");
}

/// How much the mean loss must fall over [`STEPS`] steps.
const LOSS_DROP: f64 = 0.5;

#[test]
fn ema_blends_parameters_and_leaves_running_statistics() {
    let device = Device::flex().autodiff();
    device.seed(4);
    let cfg = tiny_branch();
    let online = cfg.init(&device);
    let target = cfg.init(&device).no_grad();
    let x = Tensor::<4>::random([16, 1, 28, 28], Distribution::Default, &device);
    let _ = online.forward(x); // changes the online running statistics only
    let before = target.projector.fc1.weight.val();
    let rm_before = target.projector.bn.running_mean.value();
    let blended = ema_update(target, &online, 0.75);
    let expect =
        before.clone().mul_scalar(0.75) + online.projector.fc1.weight.val().detach().mul_scalar(0.25);
    let diff = (blended.projector.fc1.weight.val() - expect)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff < 1e-6, "{diff}");
    let rm_diff = (blended.projector.bn.running_mean.value() - rm_before)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert_eq!(rm_diff, 0.0);
    assert!(!blended.projector.fc1.weight.val().is_require_grad());
}

#[test]
fn saved_encoder_reloads_to_identical_features() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let data = mnist();
    let mut trainer =
        SslTrainer::new(SslConfig::simsiam(tiny_branch(), PredictorKind::Linear), &device).unwrap();
    run(&mut trainer, &data, 3);
    let enc = trainer.encoder();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encoder.bpk");
    save_encoder(&enc, &path).unwrap();
    let plain = Device::flex();
    plain.seed(99);
    let fresh = tiny_branch().init(&plain).encoder;
    let loaded = load_encoder(fresh, &path).unwrap().valid();
    let x = ImageBatcher::unit()
        .batch_indices(&data, &[0, 1, 2, 3, 4], &plain)
        .images;
    let a = enc.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    let b = loaded.forward(x).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(a, b);
}

#[test]
fn bench_runs_the_real_training_step_at_toy_size() {
    let r = ssl_dynamics::bench::run_bench(
        4,
        repro_core::fast_conv::Algorithm::Winograd,
        8,
        2,
        1,
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(r.workload, "byol-resnet18");
    assert!(r.items_per_s > 0.0 && r.step_ms > 0.0);
    assert!(r.eig_share < 0.5 && r.eig_share > 0.0, "{r:?}");
    // The benchmark predictor is set before use and not trained.
    let cfg = ssl_dynamics::bench::bench_config(64, repro_core::fast_conv::Algorithm::Winograd);
    match cfg.predictor {
        PredictorKind::DirectPred(c) => assert!(c.set_before_use && c.freq == 1),
        _ => panic!("bench must use DirectPred"),
    }
}

#[test]
fn without_stop_gradient_the_outputs_collapse() {
    let device = Device::flex().autodiff();
    device.seed(6);
    let data = mnist();
    let mut cfg = SslConfig::simsiam(tiny_branch(), PredictorKind::Linear);
    cfg.stop_gradient = false;
    let mut trainer = SslTrainer::new(cfg, &device).unwrap();
    let stats = run(&mut trainer, &data, 40);
    let first = stats[0].z_std;
    let last = mean(&stats[35..], |s| s.z_std);
    assert!(last < 0.25 * first, "z-std {first} -> {last}");
    assert!(mean(&stats[35..], |s| s.loss) < -3.9);
}

/// Predictor weight before and after one step of a trainer with `cfg` started from `start`
/// (so that tests running in parallel cannot change its initialisation), and a flat copy of
/// the encoder's first conv weight after it.
fn one_step(
    cfg: SslConfig,
    start: &ssl_dynamics::byol::Networks,
    data: &ImageDataset,
) -> (nalgebra::DMatrix<f64>, nalgebra::DMatrix<f64>, Vec<f32>) {
    let device = Device::flex().autodiff();
    let mut trainer = SslTrainer::new(cfg, &device).unwrap();
    let optim = trainer.fresh_optimizer();
    trainer.restore(start.clone(), optim, 0);
    let w0 = trainer.online().predictor.linear_weight().unwrap();
    let x = ImageBatcher::unit()
        .batch_indices(data, &(0..32).collect::<Vec<_>>(), &device)
        .images;
    trainer.train_step(x.clone(), x.flip([3])).unwrap();
    let w1 = trainer.online().predictor.linear_weight().unwrap();
    let mut enc = vec![];
    struct Grab<'a>(&'a mut Vec<f32>);
    impl burn::module::ModuleVisitor for Grab<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            if self.0.is_empty() {
                self.0
                    .extend(p.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
            }
        }
    }
    trainer.online().branch.encoder.visit(&mut Grab(&mut enc));
    (w0, w1, enc)
}

/// The predictor's group: its step is `α_p` times the base step, and its weight decay `η_p`
/// adds exactly `−lr (η_p − η) W₀` to the first SGD step (momentum buffers start at the
/// gradient), while the encoder's update is the same in all three runs.
#[test]
fn the_predictor_group_has_its_own_learning_rate_and_weight_decay() {
    let data = mnist();
    let base = SslConfig::simsiam(tiny_branch(), PredictorKind::Linear);
    let start = SslTrainer::new(base.clone(), &Device::flex().autodiff())
        .unwrap()
        .networks();
    let (w0, w1, enc) = one_step(base.clone(), &start, &data);
    let mut fast = base.clone();
    fast.predictor_optim.lr_mult = 10.0;
    let (v0, v1, enc_fast) = one_step(fast, &start, &data);
    assert_eq!(w0, v0, "same initialisation");
    let step = &w1 - &w0;
    assert!(step.amax() > 1e-6, "the predictor moved: {}", step.amax());
    let rel = (&(&v1 - &v0) - &step * 10.0).amax() / (step.amax() * 10.0);
    assert!(
        rel < 1e-3,
        "α_p = 10 step differs from 10× the base step by {rel}"
    );
    assert_eq!(enc, enc_fast, "the encoder's step does not depend on α_p");
    let mut decayed = base.clone();
    decayed.predictor_optim.weight_decay = Some(0.5);
    let (_, u1, enc_decayed) = one_step(decayed, &start, &data);
    let expect = &w0 * (-base.lr * (0.5 - base.weight_decay));
    let err = (&(&u1 - &w1) - &expect).amax() / expect.amax();
    assert!(err < 1e-3, "weight decay of the predictor group off by {err}");
    assert_eq!(enc, enc_decayed, "the encoder keeps its own weight decay");
}

/// The symmetrised SGD predictor stays symmetric while a plain SGD one does not; "no
/// predictor" stays the identity; DirectPred's `W_p` commutes with the monitored `F̂` (same
/// estimate) while the SGD one does not, as the theory monitors report.
#[test]
fn symmetrised_and_absent_predictors_and_the_theory_monitors() {
    let device = Device::flex().autodiff();
    device.seed(8);
    let data = mnist();
    let run_kind = |kind: PredictorKind| {
        let mut t = SslTrainer::new(SslConfig::simsiam(tiny_branch(), kind), &device).unwrap();
        run(&mut t, &data, 12);
        let w = t.online().predictor.linear_weight().unwrap();
        let point = ssl_dynamics::train::theory_now(&t, true).unwrap();
        (w, point)
    };
    let (w, p) = run_kind(PredictorKind::LinearSymmetric);
    assert!(
        (&w - w.transpose()).amax() < 1e-6,
        "symmetrised W_p is not symmetric"
    );
    assert!(p.asymmetry.unwrap() < 1e-5);
    let (w, p) = run_kind(PredictorKind::Linear);
    let asym = p.asymmetry.unwrap();
    assert!(asym > 1e-3, "plain SGD W_p symmetric already? asymmetry {asym}");
    assert!(((&w - w.transpose()).norm() / w.norm() - asym).abs() < 1e-9);
    let sgd_commutator = p.commutator.unwrap();
    assert!(sgd_commutator > 1e-3, "{sgd_commutator}");
    let (w, p) = run_kind(PredictorKind::None);
    assert_eq!(w, nalgebra::DMatrix::identity(32, 32));
    assert!(p.commutator.unwrap() < 1e-12);
    let (_, p) = run_kind(PredictorKind::direct_pred());
    let c = p.commutator.unwrap();
    assert!(c < 1e-4 && c < sgd_commutator / 10.0, "DirectPred commutator {c}");
    assert_eq!(p.f_eigs.len(), 32);
    assert!(p.f_eigs.windows(2).all(|w| w[0] >= w[1]), "descending");
    // DirectPred's eigenvalue on F's mode j is √(s_j / max s) + ε (floats: f32 read-back).
    for (s, q) in p.f_eigs.iter().zip(&p.wp_on_f_modes) {
        let expect = ((*s as f64).max(0.0) / p.f_eigs[0] as f64).sqrt() + 0.01;
        assert!((*q as f64 - expect).abs() < 1e-3, "{q} vs {expect}");
    }
}
