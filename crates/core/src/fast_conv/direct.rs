//! Direct stride-1 convolution on zero-padded planes: register-blocked micro-kernels for
//! AVX-512 and for AVX2 + FMA, chosen at run time.
//!
//! With stride 1, pixel `q` of the "wide" output grid (`kernels::Planes`: rows of the padded
//! width) reads, at input channel `c` and tap `(i, j)`, plane entry `c·plane + i·width + j + q`.
//! So `NR` consecutive pixels read `NR` consecutive floats, and the convolution is a matrix
//! product whose right-hand side is never formed: row `(c, i, j)` of it is the planes read
//! from offset `c·plane + i·width + j`. A micro-kernel keeps an `MR` × `NR` block of the wide
//! output in registers and runs over every `(c, i, j)` in turn: `NR / lanes` vector loads of
//! the planes, `MR` broadcasts of the packed weights, `MR · NR / lanes` FMAs. Nothing is copied
//! per tap (the `gemm` path packs the shifted planes once per tap and reads and writes the
//! output once per tap), and each output block is written once.
//!
//! The two blocks ([`Kernel`]):
//! - AVX2: 6 × 16, twelve accumulators, two loads and six broadcasts: fifteen of the sixteen
//!   256-bit registers, none spills.
//! - AVX-512: 8 × 48, twenty-four accumulators, three loads and one broadcast at a time:
//!   twenty-eight of the thirty-two 512-bit registers. Eight rows divide ResNet's 64 to 512
//!   channels, so no edge block is wasted there.

/// A micro-kernel: its instruction set and block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX2 + FMA, 6 output channels × 16 pixels.
    Avx2,
    /// AVX-512 (F), 8 output channels × 48 pixels.
    Avx512,
}

impl Kernel {
    /// Every kernel, the widest first.
    pub const ALL: [Kernel; 2] = [Kernel::Avx512, Kernel::Avx2];

    /// Output channels per block.
    pub const fn mr(self) -> usize {
        match self {
            Kernel::Avx2 => 6,
            Kernel::Avx512 => 8,
        }
    }

    /// Wide-grid pixels per block.
    pub const fn nr(self) -> usize {
        match self {
            Kernel::Avx2 => 16,
            Kernel::Avx512 => 48,
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Kernel::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
                Kernel::Avx512 => std::is_x86_feature_detected!("avx512f"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

/// The largest block, for edge buffers.
const MAX_BLOCK: usize = Kernel::Avx512.mr() * Kernel::Avx512.nr();

/// Environment variable that chooses the micro-kernel: `off` (or `0`, `false`) for the `gemm`
/// path, `avx2` for the AVX2 kernel where AVX-512 is present; unset, the widest the CPU runs.
pub const SWITCH: &str = "REPRO_DIRECT_CONV";

/// The micro-kernel stride-1 convolutions use on this CPU, or `None` for the `gemm` path:
/// the widest [`Kernel::supported`], unless [`SWITCH`] says otherwise. Read once per process.
pub fn chosen() -> Option<Kernel> {
    static CHOICE: std::sync::OnceLock<Option<Kernel>> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| match std::env::var(SWITCH).as_deref() {
        Ok("off" | "0" | "false") => None,
        Ok("avx2") => Some(Kernel::Avx2).filter(|k| k.supported()),
        _ => Kernel::ALL.into_iter().find(|k| k.supported()),
    })
}

/// Weights `[O][K]` packed per block of `MR` output channels, `[⌈O/MR⌉][K][MR]`, with zero
/// rows past `O`.
pub fn pack(kernel: Kernel, w: &[f32], o: usize, k: usize) -> Vec<f32> {
    assert_eq!(w.len(), o * k, "direct conv: weights are not O×K");
    let mr = kernel.mr();
    let mut packed = vec![0.0f32; o.div_ceil(mr) * k * mr];
    for oc in 0..o {
        let (block, r) = (oc / mr, oc % mr);
        for (kk, v) in w[oc * k..][..k].iter().enumerate() {
            packed[(block * k + kk) * mr + r] = *v;
        }
    }
    packed
}

/// `wide[oc][q] = Σ_kk w[oc][kk] · xp[offsets[kk] + q]` for `oc < o`, `q < n_pad`, with
/// `wide`'s rows `n_pad` apart; `packed` from [`pack`] for the same kernel with
/// `K = offsets.len()`.
///
/// # Panics
/// If `n_pad` is not a multiple of the kernel's `NR`, a buffer is too short (`xp` must hold
/// `max(offsets) + n_pad` entries), or the CPU cannot run the kernel ([`Kernel::supported`]).
pub fn conv(
    kernel: Kernel,
    packed: &[f32],
    offsets: &[usize],
    o: usize,
    xp: &[f32],
    wide: &mut [f32],
    n_pad: usize,
) {
    let (k, mr, nr) = (offsets.len(), kernel.mr(), kernel.nr());
    assert!(
        kernel.supported(),
        "direct conv: the CPU cannot run the {kernel:?} kernel"
    );
    assert_eq!(
        n_pad % nr,
        0,
        "direct conv: {n_pad} wide pixels are not a multiple of {nr}"
    );
    assert!(
        packed.len() >= o.div_ceil(mr) * k * mr,
        "direct conv: packed weights too short"
    );
    assert!(wide.len() >= o * n_pad, "direct conv: output too short");
    let reach = offsets.iter().max().map_or(0, |m| m + n_pad);
    assert!(
        reach <= xp.len(),
        "direct conv: planes hold {} entries, {reach} read",
        xp.len()
    );
    let block_fn = match kernel {
        Kernel::Avx2 => block_avx2,
        Kernel::Avx512 => block_avx512,
    };
    let mut edge = [0.0f32; MAX_BLOCK];
    for q0 in (0..n_pad).step_by(nr) {
        for block in 0..o.div_ceil(mr) {
            let rows = mr.min(o - block * mr);
            let wp = &packed[block * k * mr..][..k * mr];
            // SAFETY: the kernel's instruction set is present (asserted above). It reads
            // `xp[q0 + offsets[kk] .. + NR]` (q0 + NR ≤ n_pad, so inside `reach ≤ xp.len()`),
            // `wp[..k·MR]`, and writes MR rows of NR at the row stride it is given: rows
            // `block·MR..+MR` of `wide` (all MR inside `o` here) or the MR × NR ≤ MAX_BLOCK
            // `edge` block.
            unsafe {
                if rows == mr {
                    let out = wide.as_mut_ptr().add(block * mr * n_pad + q0);
                    block_fn(wp.as_ptr(), offsets, xp.as_ptr().add(q0), out, n_pad);
                } else {
                    block_fn(wp.as_ptr(), offsets, xp.as_ptr().add(q0), edge.as_mut_ptr(), nr);
                    for r in 0..rows {
                        wide[(block * mr + r) * n_pad + q0..][..nr].copy_from_slice(&edge[r * nr..][..nr]);
                    }
                }
            }
        }
    }
}

/// One 6 × 16 block: `out[r][v] = Σ_kk wp[kk][r] · xp[offsets[kk] + v]`.
///
/// # Safety
/// AVX2 and FMA must be present; `wp` holds `offsets.len()·6` entries, `xp` at least
/// `offsets[kk] + 16` for every `kk`, and `out` 6 rows of 16 at `out_stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(wp: *const f32, offsets: &[usize], xp: *const f32, out: *mut f32, out_stride: usize) {
    use std::arch::x86_64::*;
    const MR: usize = Kernel::Avx2.mr();
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
            // SAFETY: row r < 6, columns 8v..8v+8 < 16 of `out`, as the caller guarantees.
            unsafe { _mm256_storeu_ps(out.add(r * out_stride + 8 * v), *value) };
        }
    }
}

/// One 8 × 48 block: `out[r][v] = Σ_kk wp[kk][r] · xp[offsets[kk] + v]`.
///
/// # Safety
/// AVX-512F must be present; `wp` holds `offsets.len()·8` entries, `xp` at least
/// `offsets[kk] + 48` for every `kk`, and `out` 8 rows of 48 at `out_stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(wp: *const f32, offsets: &[usize], xp: *const f32, out: *mut f32, out_stride: usize) {
    use std::arch::x86_64::*;
    const MR: usize = Kernel::Avx512.mr();
    let mut acc = [[_mm512_setzero_ps(); 3]; MR];
    for (kk, &off) in offsets.iter().enumerate() {
        // SAFETY: inside the bounds the caller guarantees.
        unsafe {
            let b = xp.add(off);
            let b0 = _mm512_loadu_ps(b);
            let b1 = _mm512_loadu_ps(b.add(16));
            let b2 = _mm512_loadu_ps(b.add(32));
            let w = wp.add(kk * MR);
            for (r, row) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_ps(*w.add(r));
                row[0] = _mm512_fmadd_ps(a, b0, row[0]);
                row[1] = _mm512_fmadd_ps(a, b1, row[1]);
                row[2] = _mm512_fmadd_ps(a, b2, row[2]);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, value) in row.iter().enumerate() {
            // SAFETY: row r < 8, columns 16v..16v+16 < 48 of `out`, as the caller guarantees.
            unsafe { _mm512_storeu_ps(out.add(r * out_stride + 16 * v), *value) };
        }
    }
}

/// Never called: [`conv`] asserts [`Kernel::supported`] first, false off x86-64.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn block_avx2(_: *const f32, _: &[usize], _: *const f32, _: *mut f32, _: usize) {
    unreachable!("direct conv: no micro-kernel for this architecture")
}

/// Never called: [`conv`] asserts [`Kernel::supported`] first, false off x86-64.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn block_avx512(_: *const f32, _: &[usize], _: *const f32, _: *mut f32, _: usize) {
    unreachable!("direct conv: no micro-kernel for this architecture")
}
