//! Run-time choice of the Burn device.
//!
//! Burn 0.22 has no backend type parameter: a [`Device`] value names the backend, and the
//! Cargo features `flex`, `ndarray` and `wgpu` decide which backends are compiled in. Every
//! binary of the workspace flattens [`DeviceArgs`] into its command line and calls
//! [`DeviceArgs::device`].

use burn::tensor::Device;
use std::fmt;

/// A backend this build may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's fast multi-threaded CPU backend (the default on machines without a GPU).
    Flex,
    /// The older ndarray CPU backend (slow convolution backward; kept for comparison).
    Ndarray,
    /// GPU through wgpu (Vulkan, Metal or DX12).
    Wgpu,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        })
    }
}

/// Why a device could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend exists but this binary was built without its Cargo feature.
    #[error(
        "--device {0}: this binary was built without the `{0}` feature; rebuild with `--features {0}` (compiled in: {1})"
    )]
    NotCompiled(BackendKind, String),
    /// wgpu is compiled in but no adapter could be opened.
    #[error("--device wgpu: no GPU adapter could be opened ({0})")]
    NoAdapter(String),
}

impl BackendKind {
    /// The backends compiled into this build, in order of preference for the default.
    pub fn compiled() -> Vec<BackendKind> {
        [
            (cfg!(feature = "wgpu"), BackendKind::Wgpu),
            (cfg!(feature = "flex"), BackendKind::Flex),
            (cfg!(feature = "ndarray"), BackendKind::Ndarray),
        ]
        .into_iter()
        .filter_map(|(on, kind)| on.then_some(kind))
        .collect()
    }

    /// Whether this build includes the backend.
    pub fn is_compiled(self) -> bool {
        Self::compiled().contains(&self)
    }

    /// The plain (inference) device of this backend.
    pub fn device(self) -> Result<Device, BackendError> {
        if !self.is_compiled() {
            let list: Vec<String> = Self::compiled().iter().map(|k| k.to_string()).collect();
            return Err(BackendError::NotCompiled(self, list.join(", ")));
        }
        match self {
            #[cfg(feature = "flex")]
            BackendKind::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            BackendKind::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => probe_wgpu(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("checked by is_compiled"),
        }
    }

    /// The default: the GPU when compiled in and an adapter opens, else `flex`, else `ndarray`.
    pub fn default_device() -> Result<(BackendKind, Device), BackendError> {
        let mut last = None;
        for kind in Self::compiled() {
            match kind.device() {
                Ok(device) => return Ok((kind, device)),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| BackendError::NotCompiled(BackendKind::Flex, String::new())))
    }
}

/// Worker threads the CPU backends (and our kernels) use: rayon's global pool, which follows
/// `RAYON_NUM_THREADS` and otherwise the machine's core count.
pub fn cpu_threads() -> usize {
    rayon::current_num_threads()
}

/// Opens the wgpu device and runs one tiny operation, so that a machine without an adapter
/// gives an error here instead of a panic deep inside the first training step.
#[cfg(feature = "wgpu")]
fn probe_wgpu() -> Result<Device, BackendError> {
    use burn::tensor::{DeviceKind, Tensor};
    let result = std::panic::catch_unwind(|| {
        let device = Device::wgpu(DeviceKind::DefaultDevice);
        let probe = Tensor::<1>::ones([4], &device).sum().into_scalar::<f32>();
        (device, probe)
    });
    match result {
        Ok((device, probe)) if probe == 4.0 => Ok(device),
        Ok((_, probe)) => Err(BackendError::NoAdapter(format!(
            "probe sum gave {probe} instead of 4"
        ))),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "initialisation panicked".into());
            Err(BackendError::NoAdapter(msg))
        }
    }
}

/// The `--device` flag shared by every binary.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeviceArgs {
    /// Backend to run on; default: the GPU if compiled in and present, else flex.
    #[arg(long, value_enum, global = true)]
    pub device: Option<BackendKind>,
}

impl DeviceArgs {
    /// Resolves the flag to a device and prints which one is used.
    pub fn device(&self) -> Result<(BackendKind, Device), BackendError> {
        let (kind, device) = match self.device {
            Some(kind) => (kind, kind.device()?),
            None => BackendKind::default_device()?,
        };
        eprintln!("device: {kind} ({device:?})");
        Ok((kind, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_build_has_a_cpu_backend_and_refuses_missing_ones() {
        let compiled = BackendKind::compiled();
        assert!(!compiled.is_empty());
        for kind in [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu] {
            if !compiled.contains(&kind) {
                let err = kind.device().unwrap_err().to_string();
                assert!(err.contains(&format!("--features {kind}")), "{err}");
            }
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_device_runs_an_operation() {
        let device = BackendKind::Flex.device().unwrap();
        let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        assert_eq!(x.sum().into_scalar::<f32>(), 6.0);
    }
}
