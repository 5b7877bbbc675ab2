//! Particles sharded over two devices give the estimate of one device up to summation order:
//! PES and truncated ES on the small RNN, several truncations in a row (so that sharded
//! particle states persist), a checkpointed state restored onto another sharding, and the
//! MNIST runner (`pes mnist --devices`) with its refusal of too few particles. With
//! the default features the two devices are one CPU device twice (two shards, two threads);
//! with the wgpu feature they are Mesa's two software-Vulkan adapters (`wgpu:cpu`,
//! `wgpu:default`), as CI runs them.

use burn::tensor::Device;
use pes::estimators::{EstimatorConfig, EstimatorKind, build};
use pes::problems::rnn::{CharRnn, SequenceKind};
use pes::sharded::Sharded;

#[cfg(not(feature = "wgpu"))]
fn devices() -> Vec<Device> {
    vec![Device::default(), Device::default()]
}

#[cfg(feature = "wgpu")]
fn devices() -> Vec<Device> {
    use repro_core::backend::{DeviceSpec, WgpuKind, open_devices};
    let specs = [
        DeviceSpec::wgpu(WgpuKind::Cpu),
        DeviceSpec::wgpu(WgpuKind::Default),
    ];
    let d = open_devices(&specs).expect("two software-Vulkan devices");
    assert_ne!(d[0], d[1]);
    d
}

fn problem() -> CharRnn {
    CharRnn::new(SequenceKind::Random, 5, 8, 24, 3)
}

/// `calls` estimates with `kind` (8 particles: a shard of 4 per device), their gradients and
/// losses.
fn estimates<P: pes::UnrolledProblem + 'static>(
    problem: &P,
    kind: EstimatorKind,
    device: &Device,
    calls: usize,
) -> Vec<(Vec<f64>, f64)> {
    let config = EstimatorConfig::new(kind, 4, 8, 0.05).with_seed(11);
    let theta = problem_theta();
    let mut est = build(&config, problem, device).unwrap();
    (0..calls)
        .map(|_| {
            let e = est.estimate(problem, &theta).unwrap();
            (e.grad, e.loss)
        })
        .collect()
}

fn problem_theta() -> Vec<f64> {
    problem().random_theta(0.3, 5)
}

fn assert_close(one: &[(Vec<f64>, f64)], many: &[(Vec<f64>, f64)], what: &str) {
    assert_eq!(one.len(), many.len());
    for (call, ((g1, l1), (g2, l2))) in one.iter().zip(many).enumerate() {
        let scale = g1.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
        let diff = g1.iter().zip(g2).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff <= 1e-5 * scale,
            "{what}, call {call}: gradients differ by {diff:e} (scale {scale:e})"
        );
        assert!(
            (l1 - l2).abs() <= 1e-6 * l1.abs(),
            "{what}, call {call}: loss {l1} vs {l2}"
        );
    }
}

#[test]
fn sharded_estimates_equal_unsharded_ones() {
    let d = devices();
    let sharded = Sharded::new(vec![problem(), problem()], d.clone()).unwrap();
    for kind in [EstimatorKind::Pes, EstimatorKind::TruncatedEs] {
        let one = estimates(&problem(), kind, &d[0], 3);
        let many = estimates(&sharded, kind, &d[0], 3);
        assert_close(&one, &many, kind.label());
        // the estimates are not all alike (a test that cannot tell particles apart would pass)
        assert!(
            one[0].0 != one[1].0,
            "{}: successive estimates are identical",
            kind.label()
        );
    }
}

/// A PES run of `problem()` checkpointed on two devices resumes on one, and one on two, with
/// the uninterrupted run's estimates.
fn states_move_between_shardings<P>(problem: impl Fn() -> P, theta: &[f64])
where
    P: pes::UnrolledProblem + Sync + 'static,
    P::State: Send,
{
    let d = devices();
    let config = EstimatorConfig::new(EstimatorKind::Pes, 4, 8, 0.05).with_seed(11);
    let one = problem();
    let two = Sharded::new(vec![problem(), problem()], d.clone()).unwrap();
    let mut reference = build(&config, &one, &d[0]).unwrap();
    let expected: Vec<_> = (0..4).map(|_| reference.estimate(&one, theta).unwrap()).collect();

    // two devices for two calls, then one device
    let mut a = build(&config, &two, &d[0]).unwrap();
    let mut got = vec![a.estimate(&two, theta).unwrap(), a.estimate(&two, theta).unwrap()];
    let mut b = build(&config, &one, &d[0]).unwrap();
    b.restore(a.snapshot()).unwrap();
    got.extend((0..2).map(|_| b.estimate(&one, theta).unwrap()));
    // one device for two calls, then two devices
    let mut c = build(&config, &one, &d[0]).unwrap();
    let mut got2 = vec![c.estimate(&one, theta).unwrap(), c.estimate(&one, theta).unwrap()];
    let mut e = build(&config, &two, &d[0]).unwrap();
    e.restore(c.snapshot()).unwrap();
    got2.extend((0..2).map(|_| e.estimate(&two, theta).unwrap()));

    let pairs = |v: &[pes::Estimate]| -> Vec<(Vec<f64>, f64)> {
        v.iter().map(|e| (e.grad.clone(), e.loss)).collect()
    };
    assert_close(&pairs(&expected), &pairs(&got), "two then one");
    assert_close(&pairs(&expected), &pairs(&got2), "one then two");
}

#[test]
fn particle_states_move_between_shardings_through_a_checkpoint() {
    states_move_between_shardings(problem, &problem_theta());
}

/// The same for the MNIST MLP, whose layer-1 tensors hold the particles in column blocks
/// (`[784, P·h]`) rather than rows.
#[test]
fn mlp_particle_states_move_between_shardings_through_a_checkpoint() {
    use pes::problems::mnist_schedule::{Batches, Init, MnistSchedule, ObjectiveBatch};
    let mlp = || {
        let pixel = |i: usize| ((i * 37) % 255) as f32 / 255.0 - 0.5;
        let batches = Batches::Fixed {
            images: (0..3)
                .map(|b| (0..5 * 784).map(|i| pixel(i + b)).collect())
                .collect(),
            labels: (0..3)
                .map(|b| (0..5).map(|i| ((i + b) % 10) as u8).collect())
                .collect(),
        };
        MnistSchedule::new(
            [6, 4],
            5,
            Some(12),
            ObjectiveBatch::Fresh,
            batches,
            Init::TruncatedNormal,
            3,
        )
    };
    states_move_between_shardings(mlp, &[0.1f64.ln(), 0.0]);
}

/// A tiny MNIST schedule config (T = 20, K = 5, 3 outer iterations, 200 images) with a PES
/// and a truncated-ES method of `particles` particles.
fn tiny_mnist(particles: [usize; 2]) -> pes::experiments::MnistConfig {
    pes::experiments::MnistConfig {
        hidden: [8, 8],
        batch_size: 10,
        horizon: 20,
        iterations: 3,
        methods: vec![
            EstimatorConfig::new(EstimatorKind::Pes, 5, particles[0], 0.1),
            EstimatorConfig::new(EstimatorKind::TruncatedEs, 5, particles[1], 0.1),
        ],
        eval_every: 3,
        grid: 2,
        train_images: 200,
        ..pes::experiments::MnistConfig::quick()
    }
}

/// `pes mnist --devices A,B` through the runner, 4 particles (2 per device), no landscape:
/// the θ histories on two devices equal those on one. Adam moves θ by about 0.05 a step from
/// estimates equal up to summation order; 1e-5 is far below a step and above f32 rounding.
#[test]
fn mnist_runner_with_sharded_particles_gives_the_one_device_histories() {
    use pes::experiments::Context;
    use pes::experiments::mnist::{LandscapeMode, MnistSelection, run_selected};
    let d = devices();
    let config = tiny_mnist([4, 4]);
    let selection = MnistSelection {
        landscape: LandscapeMode::Skip,
        ..Default::default()
    };
    let data = Default::default();
    let one = run_selected(&config, &selection, &data, &Context::quiet(&d[0])).unwrap();
    let sharded = Context {
        devices: d.clone(),
        ..Context::quiet(&d[0])
    };
    let two = run_selected(&config, &selection, &data, &sharded).unwrap();
    assert_eq!((one.runs.len(), two.runs.len()), (2, 2));
    for (a, b) in one.runs.iter().zip(&two.runs) {
        assert_eq!(a.label, b.label);
        assert_eq!(a.history.len(), b.history.len());
        let last = a.last();
        assert_eq!(last.iteration, 3);
        // θ moved: three estimates are compared, not θ₀ with itself
        assert!(
            (last.theta[0] - config.theta0[0]).abs() > 0.05,
            "{}: θ = {:?}",
            a.label,
            last.theta
        );
        for (ra, rb) in a.history.iter().zip(&b.history) {
            let diff = ra
                .theta
                .iter()
                .zip(&rb.theta)
                .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
            eprintln!("{}, iteration {}: |Δθ| = {diff:e}", a.label, ra.iteration);
            assert!(
                ra.iteration == rb.iteration && diff <= 1e-5,
                "{}, iteration {}: θ {:?} on one device, {:?} on two",
                a.label,
                ra.iteration,
                ra.theta,
                rb.theta
            );
        }
    }
}

/// A method with fewer particles than devices (2 on three devices: the two of `devices()`
/// and the first again) is refused, naming it and both counts, before the landscape (or
/// anything else) is computed.
#[test]
fn mnist_runner_refuses_fewer_particles_than_devices_before_any_work() {
    use pes::experiments::Context;
    use pes::experiments::mnist::{LANDSCAPE_FILE, MnistSelection, run_selected};
    let mut d = devices();
    d.push(d[0].clone());
    let root = tempfile::tempdir().unwrap();
    let run = repro_core::train::RunDir::create(root.path(), "pes", "refused", false).unwrap();
    let ctx = Context {
        devices: d.clone(),
        run: Some(run.clone()),
        ..Context::quiet(&d[0])
    };
    let config = tiny_mnist([4, 2]);
    let err = run_selected(&config, &MnistSelection::default(), &Default::default(), &ctx)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TES K=5 has fewer particles (2) than devices (3)"),
        "{err}"
    );
    assert!(!run.file(LANDSCAPE_FILE).exists());
    assert!(!run.file("checkpoints").exists() && !run.file("metrics.jsonl").exists());
}
