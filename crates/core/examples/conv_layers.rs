//! Times the three conv2d products of every distinct conv layer of a benchmark network with
//! `repro_core::fast_conv::kernels`, in ms and GFLOP/s, at the benchmark's batch size:
//! `cargo run --release -p repro-core --example conv_layers [resnet18|gloro-2c2f|gloro-6c2f]`
//! (default `resnet18`: ResNet-18 with the CIFAR stem, batch 64; the GloRo nets at batch 256).
use repro_core::fast_conv::kernels::{Geometry, backward_w, backward_x, forward};
use repro_core::fast_conv::winograd;
use std::time::Instant;

/// The fastest of `reps` calls, in ms, after one warm-up call (the minimum is the steadiest
/// statistic on a shared machine).
fn time<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// `(cin, hw, cout, k, stride, pad, count in the network)` of ResNet-18's conv layers.
const RESNET18: [(usize, usize, usize, usize, usize, usize, usize); 11] = [
    (3, 32, 64, 3, 1, 1, 1),
    (64, 32, 64, 3, 1, 1, 4),
    (64, 32, 128, 3, 2, 1, 1),
    (64, 32, 128, 1, 2, 0, 1),
    (128, 16, 128, 3, 1, 1, 3),
    (128, 16, 256, 3, 2, 1, 1),
    (128, 16, 256, 1, 2, 0, 1),
    (256, 8, 256, 3, 1, 1, 3),
    (256, 8, 512, 3, 2, 1, 1),
    (256, 8, 512, 1, 2, 0, 1),
    (512, 4, 512, 3, 1, 1, 3),
];

/// The same for GloRo's 2C2F (MNIST) and 6C2F (CIFAR-10) bodies.
const GLORO_2C2F: [(usize, usize, usize, usize, usize, usize, usize); 2] =
    [(1, 28, 16, 4, 2, 1, 1), (16, 14, 32, 4, 2, 1, 1)];
const GLORO_6C2F: [(usize, usize, usize, usize, usize, usize, usize); 6] = [
    (3, 32, 32, 3, 1, 1, 1),
    (32, 32, 32, 3, 1, 1, 1),
    (32, 32, 32, 4, 2, 1, 1),
    (32, 16, 64, 3, 1, 1, 1),
    (64, 16, 64, 3, 1, 1, 1),
    (64, 16, 64, 4, 2, 1, 1),
];

fn main() {
    let net = std::env::args().nth(1).unwrap_or_else(|| "resnet18".into());
    let (b, layers): (usize, &[_]) = match net.as_str() {
        "resnet18" => (64, &RESNET18),
        "gloro-2c2f" => (256, &GLORO_2C2F),
        "gloro-6c2f" => (256, &GLORO_6C2F),
        other => {
            eprintln!("conv_layers: unknown network `{other}`; expected resnet18, gloro-2c2f or gloro-6c2f");
            std::process::exit(2);
        }
    };
    println!("layer                      fwd_ms  dx_ms  dw_ms   fwd  dx  dw GFLOP/s");
    let mut total = [0.0f64; 3];
    for &(cin, hw, cout, k, s, p, count) in layers {
        let g = Geometry::new([b, cin, hw, hw], [cout, cin, k, k], [s, s], [p, p]).unwrap();
        let x: Vec<f32> = (0..b * cin * hw * hw)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let w: Vec<f32> = (0..cout * cin * k * k)
            .map(|i| ((i * 104729) % 1000) as f32 / 1000.0)
            .collect();
        let dy: Vec<f32> = (0..b * cout * g.ho * g.wo)
            .map(|i| ((i * 31) % 1000) as f32 / 1000.0)
            .collect();
        let flops = 2.0 * (b * cout * g.ho * g.wo * cin * k * k) as f64;
        let reps = 7;
        let f = time(reps, || drop(std::hint::black_box(forward(&g, &x, &w))));
        let dx = time(reps, || drop(std::hint::black_box(backward_x(&g, &dy, &w))));
        let dw = time(reps, || drop(std::hint::black_box(backward_w(&g, &x, &dy))));
        println!(
            "{cin:>3}x{hw:<3}->{cout:<3} k{k} s{s} x{count}   {f:7.2} {dx:6.2} {dw:6.2}  {:5.0} {:5.0} {:5.0}",
            flops / f / 1e6,
            flops / dx / 1e6,
            flops / dw / 1e6
        );
        let mut best = [f, dx, dw];
        if winograd::applies(&g) {
            let f = time(reps, || drop(std::hint::black_box(winograd::forward(&g, &x, &w))));
            let dx = time(reps, || {
                drop(std::hint::black_box(winograd::backward_x(&g, &dy, &w)))
            });
            let dw = time(reps, || {
                drop(std::hint::black_box(winograd::backward_w(&g, &x, &dy)))
            });
            // effective rates: the spatial convolution's FLOPs over Winograd's time
            println!(
                "  F(2x2,3x3) winograd        {f:7.2} {dx:6.2} {dw:6.2}  {:5.0} {:5.0} {:5.0}",
                flops / f / 1e6,
                flops / dx / 1e6,
                flops / dw / 1e6
            );
            best = [f, dx, dw];
        }
        for (t, v) in total.iter_mut().zip(best) {
            *t += v * count as f64;
        }
    }
    println!(
        "network total, Winograd where it applies (ms): fwd {:.1} dx {:.1} dw {:.1}",
        total[0], total[1], total[2]
    );
}
