//! Direct stride-1 convolution on zero-padded planes: a register-blocked micro-kernel for
//! AVX2 + FMA, chosen at run time.
//!
//! With stride 1, pixel `q` of the "wide" output grid (`kernels::Planes`: rows of the padded
//! width) reads, at input channel `c` and tap `(i, j)`, plane entry `c·plane + i·width + j + q`.
//! So [`NR`] consecutive pixels read [`NR`] consecutive floats, and the convolution is a matrix
//! product whose right-hand side is never formed: row `(c, i, j)` of it is the planes read
//! from offset `c·plane + i·width + j`. The micro-kernel keeps an [`MR`] × [`NR`] block of the
//! wide output in twelve registers and runs over every `(c, i, j)` in turn: two vector loads
//! of the planes, [`MR`] broadcasts of the packed weights, twelve FMAs (fifteen of the sixteen
//! AVX2 registers: none spills). Nothing is copied per
//! tap (the `gemm` path packs the shifted planes once per tap and reads and writes the output
//! once per tap), and each output block is written once.
//!
//! Where the CPU has AVX-512 the `gemm` crate's 512-bit kernels stay in use: this kernel is
//! 256 bits wide ([`available`]).

/// Output channels per micro-kernel block.
pub const MR: usize = 6;
/// Wide-grid pixels per micro-kernel block (two 8-lane vectors).
pub const NR: usize = 16;

/// Environment variable that turns the micro-kernel off (`off`, `0` or `false`), for
/// measuring it against the `gemm` path in one binary.
pub const SWITCH: &str = "REPRO_DIRECT_CONV";

/// Whether the micro-kernel runs on this CPU and is the faster choice: AVX2 and FMA, and no
/// AVX-512 (where the `gemm` crate's 512-bit kernels are twice as wide); and not turned off
/// by [`SWITCH`]. Read once per process.
pub fn available() -> bool {
    static CHOICE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        let off = std::env::var(SWITCH).is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false"));
        #[cfg(target_arch = "x86_64")]
        let preferred = !std::is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let preferred = false;
        !off && preferred && supported()
    })
}

/// Whether the micro-kernel can run at all on this CPU (AVX2 and FMA), whatever [`available`]
/// prefers; the tests use it.
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Weights `[O][K]` packed per block of [`MR`] output channels, `[⌈O/MR⌉][K][MR]`, with zero
/// rows past `O`.
pub fn pack(w: &[f32], o: usize, k: usize) -> Vec<f32> {
    assert_eq!(w.len(), o * k, "direct conv: weights are not O×K");
    let mut packed = vec![0.0f32; o.div_ceil(MR) * k * MR];
    for oc in 0..o {
        let (block, r) = (oc / MR, oc % MR);
        for (kk, v) in w[oc * k..][..k].iter().enumerate() {
            packed[(block * k + kk) * MR + r] = *v;
        }
    }
    packed
}

/// `wide[oc][q] = Σ_kk w[oc][kk] · xp[offsets[kk] + q]` for `oc < o`, `q < n_pad`, with
/// `wide`'s rows `n_pad` apart; `packed` from [`pack`] with `K = offsets.len()`.
///
/// # Panics
/// If `n_pad` is not a multiple of [`NR`], a buffer is too short (`xp` must hold
/// `max(offsets) + n_pad` entries), or the CPU lacks AVX2 and FMA ([`supported`]).
pub fn conv(packed: &[f32], offsets: &[usize], o: usize, xp: &[f32], wide: &mut [f32], n_pad: usize) {
    let k = offsets.len();
    assert!(supported(), "direct conv: the CPU lacks AVX2 and FMA");
    assert_eq!(
        n_pad % NR,
        0,
        "direct conv: {n_pad} wide pixels are not a multiple of {NR}"
    );
    assert!(
        packed.len() >= o.div_ceil(MR) * k * MR,
        "direct conv: packed weights too short"
    );
    assert!(wide.len() >= o * n_pad, "direct conv: output too short");
    let reach = offsets.iter().max().map_or(0, |m| m + n_pad);
    assert!(
        reach <= xp.len(),
        "direct conv: planes hold {} entries, {reach} read",
        xp.len()
    );
    let mut edge = [0.0f32; MR * NR];
    for q0 in (0..n_pad).step_by(NR) {
        for block in 0..o.div_ceil(MR) {
            let rows = MR.min(o - block * MR);
            let wp = &packed[block * k * MR..][..k * MR];
            // SAFETY: AVX2 and FMA are present (asserted above). The kernel reads
            // `xp[q0 + offsets[kk] .. + NR]` (q0 + NR ≤ n_pad, so inside `reach ≤ xp.len()`),
            // `wp[..k·MR]`, and writes MR rows of NR at the row stride it is given: rows
            // `block·MR..+MR` of `wide` (all MR inside `o` here) or the MR × NR `edge` block.
            unsafe {
                if rows == MR {
                    let out = wide.as_mut_ptr().add(block * MR * n_pad + q0);
                    kernel(wp.as_ptr(), offsets, xp.as_ptr().add(q0), out, n_pad);
                } else {
                    kernel(wp.as_ptr(), offsets, xp.as_ptr().add(q0), edge.as_mut_ptr(), NR);
                    for r in 0..rows {
                        wide[(block * MR + r) * n_pad + q0..][..NR].copy_from_slice(&edge[r * NR..][..NR]);
                    }
                }
            }
        }
    }
}

/// One [`MR`] × [`NR`] block: `out[r][v] = Σ_kk wp[kk][r] · xp[offsets[kk] + v]`.
///
/// # Safety
/// AVX2 and FMA must be present; `wp` holds `offsets.len()·MR` entries, `xp` at least
/// `offsets[kk] + NR` for every `kk`, and `out` `MR` rows of `NR` at `out_stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(wp: *const f32, offsets: &[usize], xp: *const f32, out: *mut f32, out_stride: usize) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for (kk, &off) in offsets.iter().enumerate() {
        // SAFETY: inside the bounds the caller guarantees.
        unsafe {
            let b = xp.add(off);
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            let w = wp.add(kk * MR);
            for (r, row) in acc.iter_mut().enumerate() {
                let a = _mm256_broadcast_ss(&*w.add(r));
                row[0] = _mm256_fmadd_ps(a, b0, row[0]);
                row[1] = _mm256_fmadd_ps(a, b1, row[1]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, value) in row.iter().enumerate() {
            // SAFETY: row r < MR, columns 8v..8v+8 < NR of `out`, as the caller guarantees.
            unsafe { _mm256_storeu_ps(out.add(r * out_stride + 8 * v), *value) };
        }
    }
}

/// Never called: [`conv`] asserts [`supported`] first, false off x86-64.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(_: *const f32, _: &[usize], _: *const f32, _: *mut f32, _: usize) {
    unreachable!("direct conv: no micro-kernel for this architecture")
}
