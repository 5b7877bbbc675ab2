//! The machine's peak fp32 rate: cores × FMA units per core × fp32 lanes per unit × 2 FLOPs
//! per fused multiply-add × clock.
//!
//! Detected at run time: the vector width the CPU offers (AVX-512 or AVX2 with FMA), the CPU's
//! vendor, family and model and its nominal clock (`/proc/cpuinfo`: the "@ x.xxGHz" of the
//! model name, else "cpu MHz"). Cores are the worker threads a benchmark reports. FMA units per
//! core and the width of their datapath come from [`CORES`], a table of the vendors'
//! optimisation manuals; a CPU not in it has no stated peak. The nominal clock is neither the
//! turbo clock nor the lower clock some CPUs run wide vectors at, so the figure is the peak at
//! the nominal clock.

/// The CPU as `/proc/cpuinfo` describes its first processor.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpu {
    /// `GenuineIntel`, `AuthenticAMD`, ...
    pub vendor: String,
    /// `cpu family`.
    pub family: u32,
    /// `model`.
    pub model: u32,
    /// `model name`.
    pub model_name: String,
    /// `cpu MHz` (on virtual machines the nominal clock; on bare metal the current one).
    pub cpu_mhz: Option<f64>,
}

impl Cpu {
    /// Reads the first processor's block of a `/proc/cpuinfo` text.
    pub fn parse(cpuinfo: &str) -> Option<Cpu> {
        let block = cpuinfo.split("\n\n").next()?;
        let field = |key: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        Some(Cpu {
            vendor: field("vendor_id")?,
            family: field("cpu family")?.parse().ok()?,
            model: field("model")?.parse().ok()?,
            model_name: field("model name").unwrap_or_default(),
            cpu_mhz: field("cpu MHz").and_then(|v| v.parse().ok()),
        })
    }

    /// This machine's CPU (Linux only).
    pub fn detect() -> Option<Cpu> {
        Cpu::parse(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
    }

    /// The nominal clock in MHz and where it came from: the model name's "@ x.xxGHz" (the
    /// base clock), else `cpu MHz`.
    pub fn nominal_mhz(&self) -> Option<(f64, &'static str)> {
        let from_name = self
            .model_name
            .split('@')
            .nth(1)
            .and_then(|s| s.trim().strip_suffix("GHz"))
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|ghz| (ghz * 1000.0, "model name"));
        from_name.or(self.cpu_mhz.map(|m| (m, "cpu MHz")))
    }
}

/// The fp32 FMA resources of one core of a CPU family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoreSpec {
    /// Vendor id as in `/proc/cpuinfo`.
    pub vendor: &'static str,
    /// `cpu family`.
    pub family: u32,
    /// The `model` numbers it covers (inclusive).
    pub models: (u32, u32),
    /// The microarchitecture.
    pub name: &'static str,
    /// Vector FMA units per core.
    pub fma_units: u32,
    /// Width of each unit's datapath in bits: an instruction wider than this is executed in
    /// pieces (Zen 4 runs a 512-bit FMA as two 256-bit halves).
    pub datapath_bits: u32,
    /// Where the figures are stated.
    pub source: &'static str,
}

const INTEL: &str = "GenuineIntel";
const AMD: &str = "AuthenticAMD";
const INTEL_ORM: &str = "Intel 64 and IA-32 Architectures Optimization Reference Manual, Vol. 1 \
     (order no. 248966), Golden Cove/Sapphire Rapids server core: two 512-bit FMA units (ports 0 and 5)";

/// FMA units per core, by vendor, family and model. Only CPUs whose every model shares the
/// figure are listed (Skylake-SP and Cascade Lake have one or two units by SKU; mobile Zen 5
/// has a 256-bit datapath).
pub const CORES: &[CoreSpec] = &[
    CoreSpec {
        vendor: INTEL,
        family: 6,
        models: (106, 106),
        name: "Ice Lake-SP",
        fma_units: 2,
        datapath_bits: 512,
        source: "Intel ARK, 3rd Gen Intel Xeon Scalable (Ice Lake-SP): '# of AVX-512 FMA Units: 2'; \
                 a register-only FMA loop (xtask's fma_peak example) measured 60-63 fp32 FLOPs per \
                 cycle per core at the nominal clock on one",
    },
    CoreSpec {
        vendor: INTEL,
        family: 6,
        models: (143, 143),
        name: "Sapphire Rapids",
        fma_units: 2,
        datapath_bits: 512,
        source: INTEL_ORM,
    },
    CoreSpec {
        vendor: INTEL,
        family: 6,
        models: (207, 207),
        name: "Emerald Rapids",
        fma_units: 2,
        datapath_bits: 512,
        source: INTEL_ORM,
    },
    CoreSpec {
        vendor: INTEL,
        family: 6,
        models: (173, 174),
        name: "Granite Rapids",
        fma_units: 2,
        datapath_bits: 512,
        source: INTEL_ORM,
    },
    CoreSpec {
        vendor: AMD,
        family: 0x17,
        models: (0x30, 0x7f),
        name: "Zen 2",
        fma_units: 2,
        datapath_bits: 256,
        source: "AMD, Software Optimization Guide for AMD Family 17h Models 30h and Greater \
                 Processors (pub. 56305), floating-point unit: two 256-bit FMA pipes",
    },
    CoreSpec {
        vendor: AMD,
        family: 0x19,
        models: (0x00, 0x0f),
        name: "Zen 3",
        fma_units: 2,
        datapath_bits: 256,
        source: ZEN3,
    },
    CoreSpec {
        vendor: AMD,
        family: 0x19,
        models: (0x20, 0x5f),
        name: "Zen 3",
        fma_units: 2,
        datapath_bits: 256,
        source: ZEN3,
    },
    CoreSpec {
        vendor: AMD,
        family: 0x19,
        models: (0x10, 0x1f),
        name: "Zen 4",
        fma_units: 2,
        datapath_bits: 256,
        source: ZEN4,
    },
    CoreSpec {
        vendor: AMD,
        family: 0x19,
        models: (0x60, 0x7f),
        name: "Zen 4",
        fma_units: 2,
        datapath_bits: 256,
        source: ZEN4,
    },
    CoreSpec {
        vendor: AMD,
        family: 0x19,
        models: (0xa0, 0xaf),
        name: "Zen 4",
        fma_units: 2,
        datapath_bits: 256,
        source: ZEN4,
    },
    CoreSpec {
        vendor: AMD,
        family: 0x1a,
        models: (0x00, 0x1f),
        name: "Zen 5 (EPYC 9005)",
        fma_units: 2,
        datapath_bits: 512,
        source: ZEN5,
    },
    CoreSpec {
        vendor: AMD,
        family: 0x1a,
        models: (0x40, 0x4f),
        name: "Zen 5 (desktop)",
        fma_units: 2,
        datapath_bits: 512,
        source: ZEN5,
    },
];

const ZEN3: &str = "AMD, Software Optimization Guide for AMD EPYC 7003 Processors (pub. 56665), \
     floating-point unit: two 256-bit FMA pipes";
const ZEN4: &str = "AMD, Software Optimization Guide for the AMD Zen4 Microarchitecture (pub. 57647), \
     floating-point unit: two FMA pipes of 256 bits; 512-bit instructions execute as two 256-bit halves";
const ZEN5: &str = "AMD, Software Optimization Guide for the AMD Zen5 Microarchitecture (pub. 58455), \
     floating-point unit: two FMA pipes with a full 512-bit datapath (desktop and server parts)";

impl CoreSpec {
    /// The table's entry for `cpu`, if any.
    pub fn lookup(cpu: &Cpu) -> Option<&'static CoreSpec> {
        CORES.iter().find(|c| {
            c.vendor == cpu.vendor && c.family == cpu.family && (c.models.0..=c.models.1).contains(&cpu.model)
        })
    }
}

/// The widest fp32 FMA vectors this CPU executes, in bits: 512 with AVX-512F, 256 with AVX2
/// and FMA, else `None` (no vector FMA).
pub fn vector_bits() -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Some(512);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Some(256);
        }
    }
    None
}

/// One core's peak, with its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    /// The CPU.
    pub cpu: Cpu,
    /// Its table entry.
    pub core: &'static CoreSpec,
    /// The vector width the CPU offers (detected).
    pub vector_bits: u32,
    /// fp32 lanes per FMA unit per cycle: `min(vector_bits, datapath_bits) / 32`.
    pub lanes: u32,
    /// Nominal clock, MHz.
    pub mhz: f64,
    /// Where the clock came from.
    pub clock_source: &'static str,
}

impl Peak {
    /// The peak of `cpu` with `vector_bits`, or why it is unknown.
    pub fn of(cpu: Cpu, vector_bits: Option<u32>) -> Result<Peak, String> {
        let core = CoreSpec::lookup(&cpu).ok_or_else(|| {
            format!(
                "FMA units per core unknown for {} (vendor {}, family {}, model {})",
                cpu.model_name, cpu.vendor, cpu.family, cpu.model
            )
        })?;
        let vector_bits = vector_bits.ok_or("no vector FMA (AVX2 + FMA or AVX-512) detected")?;
        let (mhz, clock_source) = cpu.nominal_mhz().ok_or("no clock in /proc/cpuinfo")?;
        Ok(Peak {
            lanes: vector_bits.min(core.datapath_bits) / 32,
            cpu,
            core,
            vector_bits,
            mhz,
            clock_source,
        })
    }

    /// This machine's peak.
    pub fn detect() -> Result<Peak, String> {
        Peak::of(Cpu::detect().ok_or("cannot read /proc/cpuinfo")?, vector_bits())
    }

    /// fp32 FLOPs per cycle of one core: FMA units × lanes × 2.
    pub fn flops_per_cycle(&self) -> u32 {
        self.core.fma_units * self.lanes * 2
    }

    /// Peak GFLOP/s of `cores` cores at the nominal clock.
    pub fn gflops(&self, cores: usize) -> f64 {
        cores as f64 * self.flops_per_cycle() as f64 * self.mhz / 1e3
    }

    /// One line: the formula with its figures and the source.
    pub fn describe(&self, cores: usize) -> String {
        format!(
            "peak fp32 of {cores} core(s) of {} ({}, family {}, model {}): {cores} × {} FMA units × {} lanes \
             ({}-bit vectors, {}-bit datapath) × 2 × {:.0} MHz ({}) = {:.1} GFLOP/s [{}]",
            self.cpu.model_name,
            self.core.name,
            self.cpu.family,
            self.cpu.model,
            self.core.fma_units,
            self.lanes,
            self.vector_bits,
            self.core.datapath_bits,
            self.mhz,
            self.clock_source,
            self.gflops(cores),
            self.core.source,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMERALD_RAPIDS: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\n\
        model name\t: Intel(R) Xeon(R) Processor\nstepping\t: 2\ncpu MHz\t\t: 2100.000\n\n\
        processor\t: 1\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 1\n";

    fn amd(family: u32, model: u32, name: &str) -> Cpu {
        Cpu {
            vendor: AMD.into(),
            family,
            model,
            model_name: name.into(),
            cpu_mhz: Some(1500.0),
        }
    }

    /// The clock from the model name's "@ 2.80GHz" (a virtual machine's `cpu MHz` may differ).
    #[test]
    fn ice_lake_peak_by_hand() {
        let text = "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 106\n\
            model name\t: Intel(R) Xeon(R) Processor @ 2.80GHz\ncpu MHz\t\t: 2793.436\n";
        let peak = Peak::of(Cpu::parse(text).unwrap(), Some(512)).unwrap();
        assert_eq!(peak.core.name, "Ice Lake-SP");
        assert_eq!(peak.clock_source, "model name");
        // 2 cores × 2 FMA units × 16 lanes × 2 × 2800 MHz
        assert!((peak.gflops(2) - 358.4).abs() < 1e-9, "{}", peak.gflops(2));
    }

    #[test]
    fn emerald_rapids_peak_by_hand() {
        let cpu = Cpu::parse(EMERALD_RAPIDS).unwrap();
        assert_eq!((cpu.family, cpu.model, cpu.cpu_mhz), (6, 207, Some(2100.0)));
        let peak = Peak::of(cpu, Some(512)).unwrap();
        // 2 FMA units × 16 fp32 lanes × 2 = 64 FLOPs per cycle; 2 cores at 2.1 GHz.
        assert_eq!(peak.flops_per_cycle(), 64);
        assert!((peak.gflops(2) - 268.8).abs() < 1e-9);
        assert_eq!(peak.clock_source, "cpu MHz");
        // Without AVX-512 the same core peaks at half.
        let avx2 = Peak::of(Cpu::parse(EMERALD_RAPIDS).unwrap(), Some(256)).unwrap();
        assert_eq!(avx2.flops_per_cycle(), 32);
        assert!(Peak::of(Cpu::parse(EMERALD_RAPIDS).unwrap(), None).is_err());
    }

    #[test]
    fn zen4_splits_512_bit_fmas_and_zen5_does_not() {
        // EPYC 9004 (Genoa, family 19h model 11h) and 9005 (Turin, family 1Ah model 02h), both
        // with AVX-512, base clocks from the model names.
        let genoa = Peak::of(
            amd(0x19, 0x11, "AMD EPYC 9454 48-Core Processor @ 2.75GHz"),
            Some(512),
        )
        .unwrap();
        assert_eq!((genoa.lanes, genoa.flops_per_cycle()), (8, 32));
        assert_eq!((genoa.mhz, genoa.clock_source), (2750.0, "model name"));
        let turin = Peak::of(amd(0x1a, 0x02, "AMD EPYC 9355"), Some(512)).unwrap();
        assert_eq!((turin.lanes, turin.flops_per_cycle()), (16, 64));
        assert_eq!(turin.mhz, 1500.0);
        // Zen 3 has no AVX-512: 256-bit vectors on 256-bit pipes.
        assert_eq!(
            Peak::of(amd(0x19, 0x01, "EPYC 7763"), Some(256))
                .unwrap()
                .flops_per_cycle(),
            32
        );
    }

    #[test]
    fn cpus_outside_the_table_have_no_peak() {
        // Cascade Lake (one or two FMA units by SKU) and mobile Zen 5 (family 1Ah model 24h).
        let mut cascade = Cpu::parse(EMERALD_RAPIDS).unwrap();
        cascade.model = 85;
        let why = Peak::of(cascade, Some(512)).unwrap_err();
        assert!(why.contains("unknown") && why.contains("model 85"), "{why}");
        assert!(Peak::of(amd(0x1a, 0x24, "Ryzen AI 9 HX 370"), Some(512)).is_err());
    }
}
