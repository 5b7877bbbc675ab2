//! §5.4, Fig. 7 at a small scale: PES's normalised variance stays flat with the number of
//! unrolls on a repeated token (correlated truncations) and grows on random tokens.

use burn::tensor::Device;
use pes::experiments::variance::{VarianceConfig, run};

#[test]
fn variance_is_flat_on_repeated_data_and_grows_on_random_data() {
    let cfg = VarianceConfig {
        length: 60,
        truncations: vec![1, 6, 60],
        repeats: 12,
        ..VarianceConfig::quick()
    };
    let curves = run(&cfg, &Device::flex()).unwrap();
    for c in &curves {
        eprintln!("{:?}: {:?}", c.sequence, c.points);
    }
    // points are (T/K, variance) for K = 1, 6, 60 → T/K = 60, 10, 1.
    let repeat = &curves[0].points;
    let random = &curves[1].points;
    let ratio = |p: &[(usize, f64)]| p[0].1 / p[2].1;
    assert!(
        ratio(repeat) < 2.5,
        "repeated data: variance grew {:.2}×",
        ratio(repeat)
    );
    assert!(
        ratio(random) > 5.0,
        "random data: variance grew only {:.2}×",
        ratio(random)
    );
}
