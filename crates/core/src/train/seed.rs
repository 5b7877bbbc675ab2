//! Seeding. Burn draws random tensors (initialisation, augmentation) from a generator per
//! device, seeded by [`burn::tensor::Device::seed`]; host-side randomness (shuffling, splits)
//! comes from a [`StdRng`]. [`seed_everything`] sets both from one number.

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Seeds the device's generator and returns a host generator derived from the same seed.
pub fn seed_everything(seed: u64, device: &Device) -> StdRng {
    device.seed(seed);
    StdRng::seed_from_u64(seed ^ 0x5EED_5EED_5EED_5EED)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tensor};
    use rand::Rng;

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
        assert_ne!(draw(1).0, draw(2).0);
    }
}
