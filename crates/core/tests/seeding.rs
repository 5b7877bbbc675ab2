//! One seed repeats every random source: the device's generator and the host generator
//! [`seed_everything`] returns. Alone in its own test binary, because the device generator is
//! one per process and the library's unit tests draw from it concurrently: a draw between
//! seeding and reading would change the numbers.

#![cfg(feature = "flex")]

use burn::tensor::{Device, Distribution, Tensor};
use rand::Rng;
use repro_core::train::seed_everything;

#[test]
fn same_seed_same_numbers_on_device_and_host() {
    let device = Device::flex();
    let draw = |s| {
        let mut rng = seed_everything(s, &device);
        let t = Tensor::<1>::random([5], Distribution::Default, &device)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        (t, rng.random::<u64>())
    };
    assert_eq!(draw(1), draw(1));
    let (a, b) = (draw(1), draw(2));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
}
