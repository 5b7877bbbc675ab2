//! The other backends agree with `flex`: the same small models on `wgpu` (and `ndarray`)
//! give the same forward pass, gradients and optimiser (SGD) step within tolerance. Built only with
//! those features (`cargo test --release -p repro-core --features wgpu,ndarray --test
//! backend_parity`); CI runs the wgpu half on Mesa's software Vulkan. Without a GPU adapter
//! the wgpu tests fail, unless `REPRO_SKIP_MISSING_GPU=1` asks to skip them.

#![cfg(all(feature = "flex", any(feature = "wgpu", feature = "ndarray")))]

use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use repro_core::BackendKind;
use repro_core::models::{ConvBlockConfig, ConvNetConfig};

#[cfg(feature = "wgpu")]
fn gpu() -> Option<Device> {
    match BackendKind::Wgpu.device() {
        Ok(d) => Some(d),
        Err(e) if std::env::var_os("REPRO_SKIP_MISSING_GPU").is_some() => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e} (set REPRO_SKIP_MISSING_GPU=1 to skip)"),
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: flex {x} vs other backend {y} (scale {scale})"
        );
    }
}

fn net() -> ConvNetConfig {
    ConvNetConfig::new(
        [3, 12, 12],
        vec![
            ConvBlockConfig::new(8).with_pool(Some(2)),
            ConvBlockConfig::new(16).with_stride(2).with_batch_norm(true),
        ],
        vec![32, 10],
    )
}

fn input(device: &Device) -> Tensor<4> {
    let cpu = Device::flex();
    cpu.seed(7);
    let x = Tensor::<4>::random([4, 3, 12, 12], Distribution::Normal(0.0, 1.0), &cpu);
    Tensor::from_data(x.into_data(), device)
}

fn conv_and_transposed_conv_agree_on(other: Device) {
    let gpu = other;
    let cpu = Device::flex();
    cpu.seed(1);
    let x = Tensor::<4>::random([2, 3, 9, 9], Distribution::Normal(0.0, 1.0), &cpu);
    let w = Tensor::<4>::random([5, 3, 4, 4], Distribution::Normal(0.0, 0.3), &cpu);
    let run = |d: &Device| {
        let (x, w) = (
            Tensor::<4>::from_data(x.to_data(), d),
            Tensor::<4>::from_data(w.to_data(), d),
        );
        let y = conv2d(x, w.clone(), None, ConvOptions::new([2, 2], [1, 1], [1, 1], 1));
        let back = conv_transpose2d(
            y.clone(),
            w,
            None,
            ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1),
        );
        (values(y), values(back))
    };
    let (a, b) = (run(&cpu), run(&gpu));
    assert_close(&a.0, &b.0, 1e-4, "conv2d");
    assert_close(&a.1, &b.1, 1e-4, "conv_transpose2d");
}

fn forward_backward_and_sgd_step_agree_on(other: Device) {
    let gpu = other;
    let cpu = Device::flex().autodiff();
    let gpu = gpu.autodiff();
    cpu.seed(3);
    let model_cpu = net().init(&cpu);
    // A fresh module loaded from the record: `to_device` gives non-leaf parameters (no
    // gradients) and a clone shares the batch norms' running statistics with the original.
    let model_gpu = net().init(&gpu).load_record(model_cpu.clone().into_record());
    let targets = TensorData::from([1i64, 4, 7, 9]);
    let step = |model: repro_core::models::ConvNet, d: &Device| {
        let x = input(d).require_grad();
        let logits = model.forward(x.clone());
        let y = Tensor::<1, burn::tensor::Int>::from_data(targets.clone(), d);
        let loss = burn::tensor::activation::log_softmax(logits.clone(), 1)
            .gather(1, y.reshape([4, 1]))
            .mean()
            .neg();
        let grads = loss.backward();
        let gx = values(x.grad(&grads).unwrap());
        let params = GradientsParams::from_grads(grads, &model);
        let gw = values(
            params
                .get::<4>(model.blocks[0].conv.weight.id)
                .expect("conv weight gradient"),
        );
        // SGD: the step is linear in the gradient, so gradients that agree give parameters that
        // agree (Adam's first step is lr·sign(g), which flips on gradients near zero)
        let mut opt = SgdConfig::new().init();
        let model = opt.step(0.1, model, params);
        let after = values(model.valid().forward(input(&d.clone().inner())));
        (values(logits), gx, gw, after)
    };
    let (a, b) = (step(model_cpu, &cpu), step(model_gpu, &gpu));
    assert_close(&a.0, &b.0, 1e-4, "forward");
    assert_close(&a.1, &b.1, 1e-3, "input gradient");
    assert_close(&a.2, &b.2, 1e-3, "weight gradient");
    assert_close(&a.3, &b.3, 1e-3, "forward after an SGD step");
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_conv_and_transposed_conv_agree_with_flex() {
    if let Some(d) = gpu() {
        conv_and_transposed_conv_agree_on(d);
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_forward_backward_and_sgd_step_agree_with_flex() {
    if let Some(d) = gpu() {
        forward_backward_and_sgd_step_agree_on(d);
    }
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_conv_and_transposed_conv_agree_with_flex() {
    conv_and_transposed_conv_agree_on(BackendKind::Ndarray.device().unwrap());
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_forward_backward_and_sgd_step_agree_with_flex() {
    forward_backward_and_sgd_step_agree_on(BackendKind::Ndarray.device().unwrap());
}
