//! Data-parallel BYOL steps ([`SslTrainer::train_step_parallel`]) against one device.
//!
//! Batch norm normalises each device's shard by the shard's own statistics, so a data-parallel
//! step is not the one-device step on an arbitrary batch. On a batch made of the same half
//! twice, each of two shards has the whole batch's statistics, and the two must agree up to
//! summation order: gradient averaging, the target network on every device, the gathered `F̂`
//! of DirectPred and the EMA update are all checked that way. With the default features the
//! two devices are one CPU device twice; with the wgpu feature they are Mesa's two
//! software-Vulkan adapters.

use burn::tensor::{Device, Distribution, Tensor};
use repro_core::train::{DataParallel, float_values};
use ssl_dynamics::byol::{SslConfig, SslTrainer};
use ssl_dynamics::nets::{BranchConfig, EncoderKind};
use ssl_dynamics::predictor::PredictorKind;

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
    open_devices(&specs).expect("two software-Vulkan devices")
}

/// BYOL with a small conv encoder; DirectPred sets the predictor every second step and SGD
/// trains it in between, so the predictor, `F̂` and the target all take part.
fn config() -> SslConfig {
    let branch = BranchConfig::new(EncoderKind::SmallConv {
        channels: vec![8, 16],
        strides: vec![2, 2],
    })
    .with_in_channels(1)
    .with_projector_hidden(32)
    .with_projector_out(16);
    let mut predictor = PredictorKind::direct_pred();
    if let PredictorKind::DirectPred(c) = &mut predictor {
        c.freq = 2;
    }
    SslConfig {
        copy_target_at_start: true,
        ..SslConfig::byol(branch, predictor)
    }
}

/// `steps` steps on batches of 32 rows, each the same 16 rows twice; `dp` = `None` for the
/// one-device step.
fn train(main: &Device, dp: Option<&DataParallel>, steps: usize) -> Vec<Vec<f32>> {
    let device = main.clone().autodiff();
    device.seed(5);
    let mut trainer = SslTrainer::new(config(), &device).unwrap();
    for step in 0..steps {
        device.seed(100 + step as u64);
        let half = || Tensor::<4>::random([16, 1, 28, 28], Distribution::Default, &device);
        let (a, b) = (half(), half());
        let v1 = Tensor::cat(vec![a.clone(), a], 0);
        let v2 = Tensor::cat(vec![b.clone(), b], 0);
        let stats = match dp {
            Some(dp) => trainer.train_step_parallel(dp, v1, v2).unwrap(),
            None => trainer.train_step(v1, v2).unwrap(),
        };
        assert!(stats.loss.is_finite());
    }
    float_values(&trainer.networks())
}

#[test]
fn two_devices_take_the_one_device_step_on_a_batch_of_two_equal_halves() {
    let d = devices();
    let one = train(&d[0], None, 4);
    let dp = DataParallel::new(d.clone()).unwrap();
    let two = train(&d[0], Some(&dp), 4);
    let scale = one.iter().flatten().fold(1e-6f32, |m, v| m.max(v.abs()));
    let diff = one
        .iter()
        .flatten()
        .zip(two.iter().flatten())
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("max relative difference {:.2e}", diff / scale);
    assert!(
        diff <= 1e-3 * scale,
        "two devices differ by {diff:e} (scale {scale:e})"
    );
    // the steps moved the networks (a comparison of two untrained networks proves nothing)
    let untrained = train(&d[0], None, 0);
    let moved = one
        .iter()
        .flatten()
        .zip(untrained.iter().flatten())
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(moved > 100.0 * diff.max(1e-7), "moved {moved:e}, differ {diff:e}");
}
