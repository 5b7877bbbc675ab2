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

/// The tests of this file one at a time. The backends' random generators are process-wide:
/// a test that seeds one and then draws from it (initialisation, augmentations) must not have
/// another test's draws interleaved, or flex and the other backend see different numbers.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    let _serial = serial();
    if let Some(d) = gpu() {
        conv_and_transposed_conv_agree_on(d);
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_forward_backward_and_sgd_step_agree_with_flex() {
    let _serial = serial();
    if let Some(d) = gpu() {
        forward_backward_and_sgd_step_agree_on(d);
    }
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_conv_and_transposed_conv_agree_with_flex() {
    let _serial = serial();
    conv_and_transposed_conv_agree_on(BackendKind::Ndarray.device().unwrap());
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_forward_backward_and_sgd_step_agree_with_flex() {
    let _serial = serial();
    forward_backward_and_sgd_step_agree_on(BackendKind::Ndarray.device().unwrap());
}

/// ssl-dynamics' whole pre-training loop (`pretrain`: augmented views, BYOL + DirectPred steps,
/// the kNN monitor, then the linear probe of the final encoder) on `other` and on flex. The CPU
/// backends seed the same `StdRng`, so initialisation, batch order and augmentations coincide
/// and only floating-point summation order differs. Tolerances: 1e-3 of the largest magnitude
/// for losses, features and `W_p`; the kNN and probe accuracies may differ by at most two test
/// images (a near-tie flipping).
fn ssl_pretrain_and_probe_agree_on(other: Device) {
    use repro_core::data::{DataArgs, DatasetName, Split, load};
    use ssl_dynamics::augment::Recipe;
    use ssl_dynamics::byol::SslConfig;
    use ssl_dynamics::config::PretrainConfig;
    use ssl_dynamics::nets::{BranchConfig, EncoderKind};
    use ssl_dynamics::predictor::PredictorKind;
    use ssl_dynamics::probe::{ProbeConfig, extract_features};
    use ssl_dynamics::train::{RunData, pretrain};

    let branch = BranchConfig::new(EncoderKind::SmallConv {
        channels: vec![8, 16],
        strides: vec![2, 2],
    })
    .with_in_channels(1)
    .with_projector_hidden(32)
    .with_projector_out(16);
    let cfg = PretrainConfig {
        ssl: SslConfig {
            copy_target_at_start: true,
            ..SslConfig::byol(branch, PredictorKind::direct_pred())
        },
        dataset: DatasetName::Mnist,
        pretrain_splits: vec![Split::Train],
        recipe: Recipe::Mnist,
        batch: 32,
        epochs: 1,
        train_limit: None,
        knn_k: 5,
        knn_train_limit: 128,
        probe: ProbeConfig {
            epochs: 20,
            lr: 1e-2,
            batch: 32,
            ..ProbeConfig::default()
        },
        seed: 5,
    };
    let args = DataArgs::default();
    let train = load(DatasetName::Mnist, Split::Train, &args).unwrap().dataset;
    let test = load(DatasetName::Mnist, Split::Test, &args).unwrap().dataset;
    let data = RunData {
        pretrain: train.take(128),
        train: train.take(256),
        test: test.take(128),
        embedded_subset: true,
    };
    let flex = Device::flex();
    let (ta, ra) = pretrain(&cfg, &data, None, &flex).unwrap();
    let (tb, rb) = pretrain(&cfg, &data, None, &other).unwrap();
    // Trained where asked: the trainer's device and every tensor of its networks.
    assert_eq!(tb.device, other, "trainer device");
    assert!(
        tb.networks().devices().iter().all(|d| *d == other),
        "networks on {:?}",
        tb.networks().devices()
    );
    assert_eq!(ra.losses.len(), 4);
    let f64s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    assert_close(&f64s(&ra.losses), &f64s(&rb.losses), 1e-3, "per-step loss");
    let (la, lb) = (&ra.logs[0], &rb.logs[0]);
    assert_close(&[la.z_std as f32], &[lb.z_std as f32], 1e-3, "collapse monitor");
    let wa = ta.online().predictor.linear_weight().unwrap();
    let wb = tb.online().predictor.linear_weight().unwrap();
    assert_close(&f64s(wa.as_slice()), &f64s(wb.as_slice()), 1e-3, "DirectPred W_p");
    let images = data.test.take(64);
    let fa = extract_features(&ta.encoder(), &images, Recipe::Mnist, &flex).values;
    let fb = extract_features(&tb.encoder(), &images, Recipe::Mnist, &other).values;
    assert_close(&fa, &fb, 1e-3, "encoder features after training");
    let two = 2.0 / data.test.len() as f64 + 1e-12;
    assert!(
        (la.knn_acc - lb.knn_acc).abs() <= two,
        "kNN {} vs {}",
        la.knn_acc,
        lb.knn_acc
    );
    let (pa, pb) = (ra.probe, rb.probe);
    assert!(
        pa.final_acc > 0.25,
        "the probe learnt something (chance 0.1): {pa:?} vs {pb:?}"
    );
    assert!(
        (pa.final_acc - pb.final_acc).abs() <= two,
        "probe {pa:?} vs {pb:?}"
    );
    assert!((pa.train_acc - pb.train_acc).abs() <= 2.0 / data.train.len() as f64 + 1e-12);
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_ssl_dynamics_pretraining_and_probe_agree_with_flex() {
    let _serial = serial();
    ssl_pretrain_and_probe_agree_on(BackendKind::Ndarray.device().unwrap());
}
