//! Measures this CPU's fp32 fused multiply-add throughput with a loop that touches no memory:
//! independent accumulator chains (enough to cover the FMA latency on two units, few enough to
//! stay in registers), on one thread and on every thread at once, for 512-bit (AVX-512) and
//! 256-bit (AVX2 + FMA) vectors.
//! It prints GFLOP/s (2 FLOPs per lane per FMA) and, per core, FLOPs per cycle at the nominal
//! clock (`xtask::peak::Cpu::nominal_mhz`, the rule `cargo xtask bench` uses): 64 per cycle means two 512-bit FMA units at that
//! clock, 32 one unit (or a 256-bit datapath). Turbo clocks read as more than the units give.
//!
//! `cargo run --release -p xtask --example fma_peak`

use std::hint::black_box;
use std::time::Instant;

/// Independent accumulator chains per loop iteration with 512-bit vectors (32 registers).
const CHAINS_512: usize = 16;
/// With 256-bit vectors: AVX2 has 16 registers, and the two operands take two of them. Sixteen
/// chains spilled accumulators to the stack and measured the spills (14–15 FLOPs per cycle per
/// core on one AMD EPYC, against 20–23 with 10, 12 or 14 chains); twelve cover a 5-cycle FMA
/// latency on two units.
const CHAINS_256: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn chains_512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(1.0); CHAINS_512];
    let (a, b) = (
        _mm512_set1_ps(black_box(0.999_999)),
        _mm512_set1_ps(black_box(1e-7)),
    );
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm512_fmadd_ps(*r, a, b);
        }
    }
    acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chains_256(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(1.0); CHAINS_256];
    let (a, b) = (
        _mm256_set1_ps(black_box(0.999_999)),
        _mm256_set1_ps(black_box(1e-7)),
    );
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm256_fmadd_ps(*r, a, b);
        }
    }
    let mut out = [0.0f32; 8];
    acc.iter()
        .map(|v| {
            // SAFETY: `out` holds the 8 lanes written.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), *v) };
            out.iter().sum::<f32>()
        })
        .sum()
}

/// A vector kind: its name, whether this CPU has it, fp32 lanes, chains, and its loop.
type Kind = (&'static str, bool, usize, usize, fn(u64) -> f32);

/// GFLOP/s of `threads` threads each running `run(iters)` over `chains` chains, best of three.
fn rate(threads: usize, lanes: usize, chains: usize, iters: u64, run: fn(u64) -> f32) -> f64 {
    let flops = (threads as u64 * iters * (chains * lanes * 2) as u64) as f64;
    (0..3)
        .map(|_| {
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(move || black_box(run(black_box(iters))));
                }
            });
            flops / t.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ghz = xtask::peak::Cpu::detect()
        .and_then(|cpu| cpu.nominal_mhz())
        .map(|(mhz, _)| mhz / 1e3);
    println!(
        "threads {threads}, nominal clock {}",
        ghz.map_or("unknown".into(), |g| format!("{g} GHz"))
    );
    let iters = 100_000_000;
    let kinds: [Kind; 2] = [
        (
            "avx512",
            std::is_x86_feature_detected!("avx512f"),
            16,
            CHAINS_512,
            |n| {
                // SAFETY: only called where AVX-512F was detected.
                unsafe { chains_512(n) }
            },
        ),
        (
            "avx2+fma",
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            8,
            CHAINS_256,
            |n| {
                // SAFETY: only called where AVX2 and FMA were detected.
                unsafe { chains_256(n) }
            },
        ),
    ];
    for (name, present, lanes, chains, run) in kinds {
        if !present {
            println!("{name}: not on this CPU");
            continue;
        }
        for t in [1, threads] {
            let g = rate(t, lanes, chains, iters, run);
            let per_cycle = ghz.map_or(String::new(), |f| {
                format!(", {:.1} FLOPs/cycle/core at nominal", g / t as f64 / f)
            });
            println!(
                "{name}: {t} thread(s) {g:.1} GFLOP/s ({:.1} per core{per_cycle})",
                g / t as f64
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("fma_peak: x86-64 only");
}
