//! Run-time choice of the Burn device.
//!
//! Burn 0.22 has no backend type parameter: a [`Device`] value names the backend, and the
//! Cargo features `flex`, `ndarray` and `wgpu` decide which backends are compiled in. Every
//! binary of the workspace flattens [`DeviceArgs`] into its command line and calls
//! [`DeviceArgs::device`]; the training commands that run data-parallel also flatten
//! [`DevicesArgs`] (`--devices wgpu:discrete:0,wgpu:discrete:1`, see
//! [`crate::train::data_parallel`]).

use crate::error::Error;
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
    pub fn device(self) -> Result<Device, Error> {
        if !self.is_compiled() {
            let list: Vec<String> = Self::compiled().iter().map(|k| k.to_string()).collect();
            return Err(Error::NotCompiled(self, list.join(", ")));
        }
        match self {
            #[cfg(feature = "flex")]
            BackendKind::Flex => Ok(Device::flex()),
            // deprecated in Burn 0.22 in favour of flex; kept for comparison
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            BackendKind::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => probe_wgpu(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("checked by is_compiled"),
        }
    }

    /// The default: the GPU when compiled in and an adapter opens, else `flex`, else `ndarray`.
    pub fn default_device() -> Result<(BackendKind, Device), Error> {
        let mut last = None;
        for kind in Self::compiled() {
            match kind.device() {
                Ok(device) => return Ok((kind, device)),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| Error::NotCompiled(BackendKind::Flex, String::new())))
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
fn probe_wgpu() -> Result<Device, Error> {
    probe(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)).map_err(Error::NoAdapter)
}

/// Runs a four-element sum on `device`; a panic (no such adapter) becomes its message.
#[cfg(feature = "wgpu")]
fn probe(device: Device) -> Result<Device, String> {
    use burn::tensor::Tensor;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::<1>::ones([4], &device).sum().into_scalar::<f32>()
    }));
    match result {
        Ok(4.0) => Ok(device),
        Ok(probe) => Err(format!("probe sum gave {probe} instead of 4")),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "initialisation panicked".into())),
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
    pub fn device(&self) -> Result<(BackendKind, Device), Error> {
        let (kind, device) = match self.device {
            Some(kind) => (kind, kind.device()?),
            None => BackendKind::default_device()?,
        };
        eprintln!("device: {kind} ({device:?})");
        Ok((kind, device))
    }
}

/// Which adapter of the wgpu backend (Burn's [`burn::tensor::DeviceKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgpuKind {
    /// The adapter wgpu prefers (`DefaultDevice`).
    Default,
    /// wgpu's CPU adapter (`Cpu`; Mesa's lavapipe where no GPU is present).
    Cpu,
    /// The N-th discrete GPU.
    Discrete(usize),
    /// The N-th integrated GPU.
    Integrated(usize),
    /// The N-th virtual GPU.
    Virtual(usize),
}

/// One device of a `--devices` list: a backend and, for wgpu, an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSpec {
    /// The backend.
    pub backend: BackendKind,
    /// The wgpu adapter (`None` for the CPU backends).
    pub wgpu: Option<WgpuKind>,
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.wgpu {
            None => write!(f, "{}", self.backend),
            Some(WgpuKind::Default) => f.write_str("wgpu:default"),
            Some(WgpuKind::Cpu) => f.write_str("wgpu:cpu"),
            Some(WgpuKind::Discrete(i)) => write!(f, "wgpu:discrete:{i}"),
            Some(WgpuKind::Integrated(i)) => write!(f, "wgpu:integrated:{i}"),
            Some(WgpuKind::Virtual(i)) => write!(f, "wgpu:virtual:{i}"),
        }
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = Error;

    /// `flex`, `ndarray`, `wgpu` (= `wgpu:default`), `wgpu:cpu`, `wgpu:discrete[:N]`,
    /// `wgpu:integrated[:N]`, `wgpu:virtual[:N]` (N defaults to 0).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadSpec(s.to_string());
        let parts: Vec<&str> = s.trim().split(':').collect();
        let index =
            |p: Option<&&str>| -> Result<usize, Error> { p.map_or(Ok(0), |i| i.parse().map_err(|_| bad())) };
        let cpu = |backend| DeviceSpec { backend, wgpu: None };
        let spec = match parts.as_slice() {
            ["flex"] => cpu(BackendKind::Flex),
            ["ndarray"] => cpu(BackendKind::Ndarray),
            ["wgpu"] | ["wgpu", "default"] => DeviceSpec::wgpu(WgpuKind::Default),
            ["wgpu", "cpu"] => DeviceSpec::wgpu(WgpuKind::Cpu),
            ["wgpu", kind, rest @ ..] if rest.len() <= 1 => {
                let i = index(rest.first())?;
                DeviceSpec::wgpu(match *kind {
                    "discrete" => WgpuKind::Discrete(i),
                    "integrated" => WgpuKind::Integrated(i),
                    "virtual" => WgpuKind::Virtual(i),
                    _ => return Err(bad()),
                })
            }
            _ => return Err(bad()),
        };
        Ok(spec)
    }
}

impl DeviceSpec {
    /// A wgpu adapter.
    pub fn wgpu(kind: WgpuKind) -> Self {
        Self {
            backend: BackendKind::Wgpu,
            wgpu: Some(kind),
        }
    }

    /// Opens the device and runs one tiny operation on it, so that a device that is not there
    /// gives an error here rather than a panic inside the first training step.
    pub fn open(&self) -> Result<Device, Error> {
        match (self.backend, self.wgpu) {
            (BackendKind::Wgpu, Some(kind)) => self.open_wgpu(kind),
            (backend, _) => backend.device(),
        }
    }

    #[cfg(feature = "wgpu")]
    fn open_wgpu(&self, kind: WgpuKind) -> Result<Device, Error> {
        use burn::tensor::DeviceKind;
        let kind = match kind {
            WgpuKind::Default => DeviceKind::DefaultDevice,
            WgpuKind::Cpu => DeviceKind::Cpu,
            WgpuKind::Discrete(i) => DeviceKind::DiscreteGpu(i),
            WgpuKind::Integrated(i) => DeviceKind::IntegratedGpu(i),
            WgpuKind::Virtual(i) => DeviceKind::VirtualGpu(i),
        };
        probe(Device::wgpu(kind)).map_err(|e| Error::Unavailable(*self, e))
    }

    #[cfg(not(feature = "wgpu"))]
    fn open_wgpu(&self, _: WgpuKind) -> Result<Device, Error> {
        BackendKind::Wgpu.device()
    }
}

/// Opens every device of a list: all of one backend, each opened and probed, before any work.
pub fn open_devices(specs: &[DeviceSpec]) -> Result<Vec<Device>, Error> {
    if let Some(other) = specs.iter().find(|s| s.backend != specs[0].backend) {
        return Err(Error::MixedBackends(specs[0], *other));
    }
    specs.iter().map(DeviceSpec::open).collect()
}

/// The `--devices` flag of the training commands that support data parallelism.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DevicesArgs {
    /// Data-parallel training on these devices, comma-separated, the first one main (e.g.
    /// `wgpu:discrete:0,wgpu:discrete:1`; see docs/scaling.md). Default: the one `--device`.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub devices: Vec<DeviceSpec>,
}

impl DevicesArgs {
    /// The devices to train on, the main one first: the `--devices` list if given (checked
    /// against `--device`), else the single device of `--device`. Prints them.
    pub fn devices(&self, device: &DeviceArgs) -> Result<Vec<Device>, Error> {
        if self.devices.is_empty() {
            return Ok(vec![device.device()?.1]);
        }
        if let Some(kind) = device.device
            && kind != self.devices[0].backend
        {
            return Err(Error::Conflict(kind, self.devices[0]));
        }
        let devices = open_devices(&self.devices)?;
        for (spec, d) in self.devices.iter().zip(&devices) {
            eprintln!("device: {spec} ({d:?})");
        }
        Ok(devices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_parse_and_refuse_mixtures_and_typos() {
        let specs: Vec<DeviceSpec> = ["flex", "wgpu", "wgpu:cpu", "wgpu:discrete:1", "wgpu:integrated"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let shown: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            shown,
            [
                "flex",
                "wgpu:default",
                "wgpu:cpu",
                "wgpu:discrete:1",
                "wgpu:integrated:0"
            ]
        );
        for bad in ["cuda", "wgpu:gpu", "wgpu:discrete:x", "wgpu:cpu:1:2", ""] {
            let e = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(matches!(e, Error::BadSpec(_)), "{bad}: {e}");
        }
        let e = open_devices(&specs[..2]).unwrap_err();
        assert!(matches!(e, Error::MixedBackends(..)), "{e}");
        assert!(e.to_string().contains("flex and wgpu:default"), "{e}");
    }

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
