//! Checks on a small GloRo Net trained for a few seconds on the embedded MNIST subset:
//! resume after a kill, save/reload, soundness against PGD, and the empirical margin
//! Lipschitz constant against the certified bound. One model is trained and shared.

#![cfg(feature = "flex")]

use burn::tensor::{Device, Int, Tensor, TensorData};
use gloro::attack::{PgdConfig, margin_lipschitz_lower_bound};
use gloro::certify::{Certifier, CertifyOptions};
use gloro::config::{TrainConfig, configs_dir};
use gloro::model::GloroNet;
use gloro::{soundness, train};
use repro_core::data::{DataArgs, Split, load};
use repro_core::train::{Checkpointer, RunDir, float_values, kill_at_checkpoint};
use std::sync::OnceLock;

struct Trained {
    cfg: TrainConfig,
    run: RunDir,
    dir: tempfile::TempDir,
    model: GloroNet,
    summary: train::Summary,
}

const SEED: u64 = 5;

fn data() -> DataArgs {
    DataArgs {
        data_dir: None,
        subset: true,
    }
}

/// Three epochs on 6000 images, uninterrupted.
fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let mut cfg = TrainConfig::load(&configs_dir().join("mnist-0.3-quick.json")).unwrap();
        cfg.train_limit = 6000;
        cfg.test_limit = 500;
        cfg.epochs = 3;
        cfg.lr.hold = 2;
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let run = RunDir::create(dir.path(), "gloro", "t", false).unwrap();
        let (model, summary) = train::train(&cfg, &run, &data(), SEED, false, &device).unwrap();
        Trained {
            cfg,
            run,
            dir,
            model,
            summary,
        }
    })
}

fn test_images(n: usize, device: &Device) -> (Tensor<4>, Vec<u8>) {
    let ds = load(repro_core::data::DatasetName::Mnist, Split::Test, &data()).unwrap();
    let (x, _, labels) = train::to_tensors(&ds.dataset, n, device);
    (x, labels)
}

/// The same run through the binary, killed (SIGKILL) once its first checkpoint is written and
/// resumed with `--resume`, ends bit-identical to the uninterrupted run: every epoch's metrics
/// and the final weights and power-iteration state.
#[test]
fn a_killed_and_resumed_run_equals_the_uninterrupted_one() {
    let t = trained();
    let config = t.dir.path().join("killed-config.json");
    std::fs::write(&config, serde_json::to_vec(&t.cfg).unwrap()).unwrap();
    let runs = t.dir.path().join("killed-runs");
    let args = |resume: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_gloro"));
        c.args([
            "train",
            "--config",
            config.to_str().unwrap(),
            "--subset",
            "--name",
            "k",
        ])
        .args(["--seed", &SEED.to_string(), "--runs-dir", runs.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        if resume {
            c.arg("--resume");
        }
        c
    };
    let run = RunDir::create(&runs, "gloro", "k", false).unwrap();
    let killed_at = kill_at_checkpoint(
        &mut args(false),
        &Checkpointer::new(&run),
        1,
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    assert!(
        killed_at < t.cfg.epochs,
        "the kill came after the run finished: nothing was resumed"
    );
    assert!(!run.file("summary.json").exists());
    let status = args(true).status().unwrap();
    assert!(status.success());

    let resumed: train::Summary = repro_core::config::load(&run.file("summary.json")).unwrap();
    let numbers = |s: &train::Summary| -> Vec<[f64; 9]> {
        s.epochs
            .iter()
            .map(|e| {
                [
                    e.epoch as f64,
                    e.lr,
                    e.train_eps,
                    e.loss,
                    e.train_accuracy,
                    e.train_vra,
                    e.k,
                    e.test_accuracy,
                    e.test_vra,
                ]
            })
            .collect()
    };
    assert_eq!(numbers(&resumed), numbers(&t.summary), "per-epoch metrics");
    assert_eq!(resumed.final_eval.vra, t.summary.final_eval.vra);
    assert_eq!(resumed.final_eval.k, t.summary.final_eval.k);
    let device = Device::flex();
    let model = train::TrainedRun::open(&run.path, &device).unwrap().model;
    assert!(
        float_values(&model) == float_values(&t.model),
        "weights and power-iteration vectors"
    );
    assert_eq!(
        run.read_metrics().unwrap().len(),
        t.cfg.epochs,
        "one metrics line per epoch"
    );
    assert!(
        t.summary.final_eval.vra > 0.3,
        "a trained model certifies something: {}",
        t.summary.final_eval.vra
    );
}

#[test]
fn saved_and_reloaded_model_gives_identical_results() {
    let t = trained();
    let device = Device::flex();
    let reloaded = train::TrainedRun::open(&t.run.path, &device).unwrap().model;
    let (x, labels) = test_images(300, &device);
    let a = t.model.forward(x.clone()).into_data();
    let b = reloaded.forward(x.clone()).into_data();
    assert_eq!(a, b, "logits");
    let ca = Certifier::new(&t.model, t.cfg.eps, CertifyOptions::sound(t.cfg.convergence)).unwrap();
    let cb = Certifier::new(&reloaded, t.cfg.eps, CertifyOptions::sound(t.cfg.convergence)).unwrap();
    assert!((ca.k - cb.k).abs() <= 1e-6 * ca.k, "K {} vs {}", ca.k, cb.k);
    let (ea, eb) = (ca.evaluate(&x, &labels, 100), cb.evaluate(&x, &labels, 100));
    assert_eq!((ea.clean_accuracy, ea.vra), (eb.clean_accuracy, eb.vra));
    for (ra, rb) in ea.correct_radii.iter().zip(&eb.correct_radii) {
        assert!((ra - rb).abs() <= 1e-6 * ra.abs().max(1.0));
    }
}

#[test]
fn pgd_never_breaks_a_certified_point_but_breaks_uncertified_ones() {
    let t = trained();
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let model_ad = train::TrainedRun::open(&t.run.path, &ad).unwrap().model;
    let (x, _) = test_images(150, &device);
    ad.seed(1);
    let certifier = Certifier::new(&t.model, t.cfg.eps, CertifyOptions::sound(t.cfg.convergence)).unwrap();
    let r = soundness::check(&certifier, &model_ad, &x, &ad, PgdConfig::new(t.cfg.eps), 150);
    eprintln!("{r:?}");
    assert!(
        r.certified >= 40,
        "too few certified points to mean anything: {r:?}"
    );
    assert_eq!(r.certified_attacked, r.certified);
    assert_eq!(
        r.certified_broken, 0,
        "a certified point was attacked successfully: {r:?}"
    );
    // the same attack at a radius far beyond every certificate does change predictions
    let big = PgdConfig {
        steps: 30,
        restarts: 0,
        ..PgdConfig::new(3.0 * t.cfg.eps)
    };
    let big_certifier = Certifier::new(&t.model, big.eps, CertifyOptions::sound(t.cfg.convergence)).unwrap();
    let r = soundness::check(&big_certifier, &model_ad, &x, &ad, big, 150);
    assert!(r.uncertified_broken > 0, "the attack must be real: {r:?}");
}

#[test]
fn the_attack_catches_a_certifier_whose_k_is_too_small() {
    // negative control: with K scaled down the certifier over-claims, and the same PGD must
    // break some of its "certified" points; with the sound K it breaks none (previous test)
    let t = trained();
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let model_ad = train::TrainedRun::open(&t.run.path, &ad).unwrap().model;
    let (x, _) = test_images(150, &device);
    // measured on this model: K × 0.5 certifies 132 points and PGD breaks none of them (the
    // global bound is looser than the local Lipschitz constant by more than 2×); K × 0.35
    // breaks 5, K × 0.25 breaks 8
    ad.seed(1);
    let wrong = Certifier::new(&t.model, t.cfg.eps, CertifyOptions::sound(t.cfg.convergence))
        .unwrap()
        .with_scaled_k(0.3)
        .unwrap();
    let r = soundness::check(&wrong, &model_ad, &x, &ad, PgdConfig::new(t.cfg.eps), 150);
    eprintln!("{r:?}");
    assert!(
        r.certified_broken > 0,
        "PGD must expose a K that is 0.3 of the sound one: {r:?}"
    );
}

#[test]
fn empirical_margin_lipschitz_never_exceeds_the_certified_bound() {
    let t = trained();
    let device = Device::flex().autodiff();
    let model_ad = train::TrainedRun::open(&t.run.path, &device).unwrap().model;
    let certifier = Certifier::new(&t.model, t.cfg.eps, CertifyOptions::sound(t.cfg.convergence)).unwrap();
    let (x, _) = test_images(64, &device);
    device.seed(2);
    let x2 = x.clone() + x.random_like(burn::tensor::Distribution::Normal(0.0, 0.05));
    let mut worst: f64 = 0.0;
    for (j, i) in [(0, 1), (3, 8), (4, 9), (7, 1)] {
        let found = margin_lipschitz_lower_bound(&model_ad, x.clone(), x2.clone(), j, i, 40, 0.02);
        let bound = certifier.k_ji(j, i);
        let best = found.iter().cloned().fold(0.0, f64::max);
        worst = worst.max(best / bound);
        assert!(
            best <= bound,
            "pair ({j},{i}): empirical {best} exceeds certified K_ji {bound}"
        );
    }
    // the search is not vacuous: it reaches a sizeable fraction of the bound, so a K_ji too
    // small by the factor below would have been caught
    eprintln!("empirical/certified margin Lipschitz ratio: {worst}");
    assert!(worst > 0.3, "empirical/certified ratio {worst}");
    let _ = Tensor::<1, Int>::from_data(TensorData::from([0i64]), &device);
}

#[test]
fn sound_layer_bounds_of_the_trained_model_cover_the_true_norms() {
    let checked = check_layer_bounds(&trained().model, usize::MAX);
    assert_eq!(checked, (3, 0), "2C2F: two convs and one hidden dense layer");
}

/// The same on 4C3F (the ε = 1.58 network), briefly trained: deeper, strided 4×4 convs and
/// two hidden dense layers, so more ways for a layer bound to fall short.
#[test]
fn sound_layer_bounds_of_a_trained_4c3f_cover_the_true_norms() {
    let mut cfg = TrainConfig::load(&configs_dir().join("mnist-1.58-10ep.json")).unwrap();
    cfg.train_limit = 2000;
    cfg.test_limit = 100;
    cfg.epochs = 1;
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path(), "gloro", "c4", false).unwrap();
    let (model, _) = train::train(&cfg, &run, &data(), 1, false, &Device::flex()).unwrap();
    // convs whose smaller side exceeds 1000 are too large to decompose in a test (their
    // Fourier bound is checked against exact norms on small inputs in the unit tests)
    let checked = check_layer_bounds(&model, 1000);
    assert_eq!(
        checked,
        (3, 3),
        "4C3F: the first conv and both hidden dense layers checked, three convs too large"
    );
}

/// Checks every bounded layer's sound bound (and the Fourier bound of convs) against its
/// largest singular value computed in f64 from the materialised operator; returns how many
/// layers were checked and how many convs were skipped for a smaller side above `max_side`.
fn check_layer_bounds(model: &GloroNet, max_side: usize) -> (usize, usize) {
    use gloro::bounds::{conv_operator, dense_matrix};
    use gloro::model::Layer;
    let (mut checked, mut skipped) = (0, 0);
    for layer in &model.layers {
        let (true_norm, sound, fourier) = match layer {
            Layer::Conv(c) => {
                let op = conv_operator(c);
                let (m, n) = op.dims();
                if m.min(n) > max_side {
                    skipped += 1;
                    continue;
                }
                let a = op.materialise();
                // the largest singular value in f64: SVD when small, else the top eigenvalue of
                // the smaller Gram matrix
                let exact = if a.ncols().min(a.nrows()) <= 300 {
                    a.clone().svd(false, false).singular_values.max()
                } else if a.ncols() <= a.nrows() {
                    (a.transpose() * &a).symmetric_eigenvalues().max().sqrt()
                } else {
                    (&a * a.transpose()).symmetric_eigenvalues().max().sqrt()
                };
                (
                    exact,
                    op.exact_bound().unwrap().upper,
                    Some(op.fourier_bound().unwrap().upper),
                )
            }
            Layer::Dense(d) => {
                let a = dense_matrix(d);
                let exact = a.clone().svd(false, false).singular_values.max();
                (
                    exact,
                    gloro::bounds::gram::spectral_norm_upper(&a).unwrap().upper,
                    None,
                )
            }
            _ => continue,
        };
        checked += 1;
        assert!(
            sound >= true_norm && sound <= true_norm * (1.0 + 1e-7),
            "layer {checked}: sound {sound} vs {true_norm}"
        );
        if let Some(f) = fourier {
            assert!(f >= true_norm, "layer {checked}: Fourier {f} < {true_norm}");
        }
    }
    (checked, skipped)
}
