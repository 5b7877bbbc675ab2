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

// Tested in `tests/seeding.rs`, a process of its own: the device generator is one per
// process, and the unit tests beside this module draw from it concurrently.
