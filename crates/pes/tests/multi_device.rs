//! Particles sharded over two devices give the estimate of one device up to summation order:
//! PES and truncated ES on the small RNN, several truncations in a row (so that sharded
//! particle states persist), and a checkpointed state restored onto another sharding. With
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

/// A PES run checkpointed on two devices resumes on one, and one on two, with the
/// uninterrupted run's estimates.
#[test]
fn particle_states_move_between_shardings_through_a_checkpoint() {
    let d = devices();
    let theta = problem_theta();
    let config = EstimatorConfig::new(EstimatorKind::Pes, 4, 8, 0.05).with_seed(11);
    let one = problem();
    let two = Sharded::new(vec![problem(), problem()], d.clone()).unwrap();
    let mut reference = build(&config, &one, &d[0]).unwrap();
    let expected: Vec<_> = (0..4)
        .map(|_| reference.estimate(&one, &theta).unwrap())
        .collect();

    // two devices for two calls, then one device
    let mut a = build(&config, &two, &d[0]).unwrap();
    let mut got = vec![
        a.estimate(&two, &theta).unwrap(),
        a.estimate(&two, &theta).unwrap(),
    ];
    let mut b = build(&config, &one, &d[0]).unwrap();
    b.restore(a.snapshot()).unwrap();
    got.extend((0..2).map(|_| b.estimate(&one, &theta).unwrap()));
    // one device for two calls, then two devices
    let mut c = build(&config, &one, &d[0]).unwrap();
    let mut got2 = vec![
        c.estimate(&one, &theta).unwrap(),
        c.estimate(&one, &theta).unwrap(),
    ];
    let mut e = build(&config, &two, &d[0]).unwrap();
    e.restore(c.snapshot()).unwrap();
    got2.extend((0..2).map(|_| e.estimate(&two, &theta).unwrap()));

    let pairs = |v: &[pes::Estimate]| -> Vec<(Vec<f64>, f64)> {
        v.iter().map(|e| (e.grad.clone(), e.loss)).collect()
    };
    assert_close(&pairs(&expected), &pairs(&got), "two then one");
    assert_close(&pairs(&expected), &pairs(&got2), "one then two");
}
