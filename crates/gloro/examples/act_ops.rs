//! Times the non-convolution work of a 6C2F layer on flex (batch 256, 32 channels, 32×32):
//! MinMax fused and composed from Burn ops, forward and forward + backward, and the bias add.
//! `cargo run --release -p gloro --example act_ops`
use burn::tensor::{Device, Distribution, Tensor};
use repro_core::fused_minmax::{minmax, minmax_reference};
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
    let ad = Device::flex().autodiff();
    let x = Tensor::<4>::random([256, 32, 32, 32], Distribution::Default, &ad).require_grad();
    let b = Tensor::<1>::random([32], Distribution::Default, &ad).require_grad();
    type Act = fn(Tensor<4>) -> Tensor<4>;
    for (name, f) in [("fused", minmax as Act), ("burn ops", minmax_reference as Act)] {
        let fwd = time(5, || {
            let _ = f(x.clone()).inner().into_data();
        });
        let both = time(5, || {
            let _ = f(x.clone()).sum().backward();
        });
        println!("minmax {name:9} forward {fwd:7.2} ms   forward+backward {both:7.2} ms");
    }
    let add = time(5, || {
        let _ = (x.clone() + b.clone().reshape([1, 32, 1, 1])).inner().into_data();
    });
    let add_both = time(5, || {
        let _ = (x.clone() + b.clone().reshape([1, 32, 1, 1])).sum().backward();
    });
    let sum = time(5, || {
        let _ = x.clone().sum().backward();
    });
    println!(
        "bias add forward {add:7.2} ms   forward+backward {add_both:7.2} ms   (sum+backward alone {sum:.2})"
    );
}
