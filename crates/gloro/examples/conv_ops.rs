//! Times conv2d forward, input gradient and weight gradient for the conv layers of the
//! 2C2F and 6C2F benchmark workloads on the flex backend (batch 256), one at a time, for
//! Burn's conv2d and for `repro_core::fast_conv::conv2d`.
//! `cargo run --release -p gloro --example conv_ops`
use burn::tensor::module::conv2d as plain_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use repro_core::fast_conv::conv2d as fast_conv2d;
use std::time::Instant;

fn time<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() * 1e3 / reps as f64
}

fn main() {
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    // (cin, hw, cout, k, stride, pad)
    let layers = [
        (1, 28, 16, 4, 2, 1),
        (16, 14, 32, 4, 2, 1),
        (3, 32, 32, 3, 1, 1),
        (32, 32, 32, 3, 1, 1),
        (32, 32, 32, 4, 2, 1),
        (32, 16, 64, 3, 1, 1),
        (64, 16, 64, 3, 1, 1),
        (64, 16, 64, 4, 2, 1),
    ];
    let b = 256;
    for (name, conv2d) in [
        ("burn conv2d", plain as Conv),
        ("repro_core::fast_conv::conv2d", fast as Conv),
    ] {
        println!("{name}\nlayer                      fwd_ms  dx_ms  dw_ms  fwd_gflops");
        for (cin, hw, cout, k, s, p) in layers {
            let reps = if hw >= 28 || cin <= 16 { 10 } else { 3 };
            let opts = ConvOptions::new([s, s], [p, p], [1, 1], 1);
            let x = Tensor::<4>::random([b, cin, hw, hw], Distribution::Default, &dev);
            let w = Tensor::<4>::random([cout, cin, k, k], Distribution::Default, &dev);
            let ho = (hw + 2 * p - k) / s + 1;
            let flops = 2.0 * (b * cout * ho * ho * cin * k * k) as f64;
            let fwd = time(reps, || {
                let _ = conv2d(x.clone(), w.clone(), None, opts.clone()).into_data();
            });
            let xa = Tensor::<4>::from_data(x.to_data(), &ad).require_grad();
            let wa = Tensor::<4>::from_data(w.to_data(), &ad);
            let both = time(reps, || {
                let y = conv2d(xa.clone(), wa.clone(), None, opts.clone());
                let _ = y.sum().backward();
            });
            let xa2 = Tensor::<4>::from_data(x.to_data(), &ad);
            let wa2 = Tensor::<4>::from_data(w.to_data(), &ad).require_grad();
            let wonly = time(reps, || {
                let y = conv2d(xa2.clone(), wa2.clone(), None, opts.clone());
                let _ = y.sum().backward();
            });
            println!(
                "{cin:>3}x{hw:<3}->{cout:<3} k{k} s{s} p{p}   {fwd:7.2} {:6.2} {:6.2}  {:6.1}",
                both - fwd,
                wonly - fwd,
                flops / fwd / 1e6
            );
        }
    }
}

type Conv = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>;

fn plain(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>, o: ConvOptions<2>) -> Tensor<4> {
    plain_conv2d(x, w, b, o)
}

fn fast(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>, o: ConvOptions<2>) -> Tensor<4> {
    fast_conv2d(x, w, b, o)
}
