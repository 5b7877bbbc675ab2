//! The conv2d kernels on plain `f32` slices: im2col (and its adjoint col2im) over chunks of
//! images, each chunk one matrix product with the `gemm` crate, chunks spread over rayon's
//! threads; and, for stride-1 convolutions with large outputs and few output channels, an
//! implicit path without im2col: one product per kernel tap on zero-padded planes read in
//! place (`Planes`), or, on CPUs that prefer it, the direct micro-kernel of [`super::direct`]
//! on the same planes. Strided convolutions whose kernel sides are multiples of their strides
//! go to `space_to_depth` instead. Layouts are Burn's: `x` `[B, C, H, W]`, `w` `[O, C, kh, kw]`, `y` `[B, O, Ho, Wo]`,
//! all contiguous row-major. Dilation 1 and one group only (the caller checks).

use super::{direct, space_to_depth};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;
use std::cell::RefCell;
use std::thread::LocalKey;

/// Shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Images `B`.
    pub batch: usize,
    /// Input channels `C`.
    pub c_in: usize,
    /// Input height `H`.
    pub h: usize,
    /// Input width `W`.
    pub w: usize,
    /// Output channels `O`.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// `[vertical, horizontal]` stride.
    pub stride: [usize; 2],
    /// Input index = output index · stride + tap − padding (negative: the window starts
    /// inside the input; used by the input-gradient convolutions).
    pub padding: [isize; 2],
    /// Output height.
    pub ho: usize,
    /// Output width.
    pub wo: usize,
}

impl Geometry {
    /// From `x` `[B, C, H, W]` and `w` `[O, C, kh, kw]`; `None` when the output would be empty.
    pub fn new(x: [usize; 4], w: [usize; 4], stride: [usize; 2], padding: [usize; 2]) -> Option<Self> {
        let [batch, c_in, h, wd] = x;
        let [c_out, c_w, kh, kw] = w;
        assert_eq!(
            c_in, c_w,
            "conv2d: input has {c_in} channels, weight expects {c_w}"
        );
        let out =
            |size: usize, k: usize, s: usize, p: usize| (size + 2 * p).checked_sub(k).map(|d| d / s + 1);
        let ho = out(h, kh, stride[0], padding[0])?;
        let wo = out(wd, kw, stride[1], padding[1])?;
        Some(Self {
            batch,
            c_in,
            h,
            w: wd,
            c_out,
            kh,
            kw,
            stride,
            padding: [padding[0] as isize, padding[1] as isize],
            ho,
            wo,
        })
    }

    /// A stride-1 window over `x` with signed `padding` and a given output size `out`.
    fn window(x: [usize; 4], w: [usize; 4], padding: [isize; 2], out: [usize; 2]) -> Self {
        let [batch, c_in, h, wd] = x;
        let [c_out, _, kh, kw] = w;
        Self {
            batch,
            c_in,
            h,
            w: wd,
            c_out,
            kh,
            kw,
            stride: [1, 1],
            padding,
            ho: out[0],
            wo: out[1],
        }
    }

    /// Rows of the im2col matrix: `C·kh·kw`.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions per image: `Ho·Wo`.
    pub fn l(&self) -> usize {
        self.ho * self.wo
    }

    fn image_in(&self) -> usize {
        self.c_in * self.h * self.w
    }

    fn image_out(&self) -> usize {
        self.c_out * self.l()
    }

    /// Images per chunk: as [`Self::chunk_w`], and few enough that every thread gets chunks.
    fn chunk(&self) -> usize {
        let threads = rayon::current_num_threads().max(1);
        let by_threads = self.batch.div_ceil(threads).max(1);
        self.chunk_w().min(by_threads)
    }

    /// Inner parallelism of the products: none when the chunks already occupy the threads.
    fn inner(&self) -> Parallelism {
        inner_parallelism(self.batch.div_ceil(self.chunk()))
    }

    /// Images per chunk of the weight gradient by im2col: enough columns (≥ 256) for an
    /// efficient product, few enough that the column buffer stays near the cache (≤ 4 MiB).
    /// It does not follow the thread count, so that the chunks, and with them the order in
    /// which [`sum_in_groups`] adds them, follow the geometry only. Where fewer chunks than
    /// threads result, each product runs on several threads instead ([`inner_parallelism`]). (A floor
    /// of [`SUM_GROUPS`] chunks, as in `space_to_depth`, made ResNet-18's 4 × 4 weight
    /// gradients 15–20 % slower by narrowing their products; on two threads at batch 64 this
    /// rule gives every ResNet-18 layer the chunks of the thread-bound one.)
    fn chunk_w(&self) -> usize {
        let by_width = 256usize.div_ceil(self.l().max(1));
        let by_memory = ((1 << 20) / (self.k() * self.l()).max(1)).max(1);
        by_width.min(by_memory).min(self.batch).max(1)
    }
}

thread_local! {
    static COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static TMP: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PLANES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's cached buffer `key`, at least `len` long (contents
/// unspecified), or a fresh one if it is in use (a nested call from work stolen while an inner
/// product waits).
fn with_buffer<R>(
    key: &'static LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Runs `f` with two scratch buffers of the given lengths ([`with_buffer`]).
pub(super) fn with_scratch<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    with_buffer(&COL, a, |col| with_buffer(&TMP, b, |tmp| f(col, tmp)))
}

/// The output columns `ow` whose input column `ow·s − p + j` lies inside `[0, w)`:
/// `(first, end, first input column)`.
fn valid_columns(g: &Geometry, j: usize) -> (usize, usize, usize) {
    let (s, p, j) = (g.stride[1], g.padding[1], j as isize);
    // ow·s + j − p ≥ 0  and  ow·s + j − p < w
    let first = ceil_div_nonneg(p - j, s).min(g.wo);
    let end = ceil_div_nonneg(g.w as isize + p - j, s).clamp(first, g.wo);
    (first, end, (first as isize * s as isize + j - p).max(0) as usize)
}

/// ⌈a / s⌉ for a > 0, else 0: the first multiple index `q ≥ 0` with `q·s ≥ a`.
fn ceil_div_nonneg(a: isize, s: usize) -> usize {
    if a <= 0 { 0 } else { (a as usize).div_ceil(s) }
}

/// `col[K][nb·L]` from `nb` consecutive images `x`: row `(c, i, j)`, column `(image, oh, ow)`
/// holds `x[image, c, oh·s − p + i, ow·s − p + j]`, zero outside the image.
///
/// Each image is first copied into its zero-padded planes ([`Planes`]), once (unless the
/// windows need no padding: then the input planes are read in place); every row of `col` is
/// then, per output row, a plain copy (stride 1) or a fixed-stride gather from a plane row,
/// with no bounds to work out per row.
fn im2col(g: &Geometry, x: &[f32], nb: usize, col: &mut [f32]) {
    let pl = Planes::new(g);
    let in_place = g.padding == [0, 0] && pl.rows <= g.h && pl.width <= g.w;
    let (plane, width) = if in_place {
        (g.h * g.w, g.w)
    } else {
        (pl.plane(), pl.width)
    };
    let (l, n, [s0, s1]) = (g.l(), nb * g.l(), g.stride);
    with_buffer(&PLANES, if in_place { 0 } else { pl.len(g) }, |xp| {
        for (b, xi) in x.chunks_exact(g.image_in()).take(nb).enumerate() {
            let xp: &[f32] = if in_place {
                xi
            } else {
                pl.fill(g, xi, xp);
                xp
            };
            for c in 0..g.c_in {
                let plane = &xp[c * plane..][..plane];
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let row = &mut col[((c * g.kh + i) * g.kw + j) * n + b * l..][..l];
                        for (oh, out) in row.chunks_exact_mut(g.wo).enumerate() {
                            copy_strided(out, &plane[(oh * s0 + i) * width + j..], s1);
                        }
                    }
                }
            }
        }
    })
}

/// `out[k] = src[k·s]`. Short copies and the stride 2 of ResNet's and GloRo's downsampling
/// layers get loops the compiler vectorises; `memcpy` calls and a generic stride cost more
/// than the copy itself on the 4- to 16-wide rows of small planes.
#[inline]
fn copy_strided(out: &mut [f32], src: &[f32], s: usize) {
    match s {
        1 => copy_short(out, &src[..out.len()]),
        2 => gather::<2>(out, src),
        _ => {
            for (o, v) in out.iter_mut().zip(src.iter().step_by(s)) {
                *o = *v;
            }
        }
    }
}

/// `out = src` in blocks of four, `memcpy` from 64 entries on.
#[inline]
fn copy_short(out: &mut [f32], src: &[f32]) {
    if out.len() >= 64 {
        out.copy_from_slice(src);
        return;
    }
    let (mut o, mut v) = (out.chunks_exact_mut(4), src.chunks_exact(4));
    for (o, v) in (&mut o).zip(&mut v) {
        o.copy_from_slice(v);
    }
    for (o, v) in o.into_remainder().iter_mut().zip(v.remainder()) {
        *o = *v;
    }
}

/// `out[k] = src[k·S]` for a stride known at compile time.
#[inline]
fn gather<const S: usize>(out: &mut [f32], src: &[f32]) {
    if out.is_empty() {
        return;
    }
    let src = &src[..(out.len() - 1) * S + 1];
    for (o, v) in out.iter_mut().zip(src.chunks(S)) {
        *o = v[0];
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the pixel it came from.
fn col2im_add(g: &Geometry, col: &[f32], nb: usize, x: &mut [f32]) {
    let (l, n, s) = (g.l(), nb * g.l(), g.stride[1]);
    for c in 0..g.c_in {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let (first, end, iw0) = valid_columns(g, j);
                if first == end {
                    continue;
                }
                let row = &col[((c * g.kh + i) * g.kw + j) * n..][..n];
                for b in 0..nb {
                    let plane = &mut x[(b * g.c_in + c) * g.h * g.w..][..g.h * g.w];
                    for oh in 0..g.ho {
                        let ih = (oh * g.stride[0] + i) as isize - g.padding[0];
                        if ih < 0 || ih >= g.h as isize {
                            continue;
                        }
                        let dst = &mut plane[ih as usize * g.w..][..g.w];
                        let src = &row[b * l + oh * g.wo..][first..end];
                        if s == 1 {
                            for (d, v) in dst[iw0..iw0 + src.len()].iter_mut().zip(src) {
                                *d += v;
                            }
                        } else {
                            for (d, v) in dst[iw0..].iter_mut().step_by(s).zip(src) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `[O][nb·L]` from the `nb` images of `dy` `[nb, O, L]` (column `(image, position)`).
fn gather_out(g: &Geometry, dy: &[f32], nb: usize, dst: &mut [f32]) {
    let (l, n) = (g.l(), nb * g.l());
    for o in 0..g.c_out {
        for b in 0..nb {
            dst[o * n + b * l..][..l].copy_from_slice(&dy[(b * g.c_out + o) * l..][..l]);
        }
    }
}

/// `dst := (accumulate ? dst : 0) + lhs·rhs` with explicit strides (row stride, column stride).
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: (&mut [f32], usize, usize),
    accumulate: bool,
    lhs: (&[f32], usize, usize),
    rhs: (&[f32], usize, usize),
    par: Parallelism,
) {
    let (dst, dst_rs, dst_cs) = dst;
    debug_assert!(dst.len() > (m - 1) * dst_rs + (n - 1) * dst_cs);
    debug_assert!(lhs.0.len() > (m - 1) * lhs.1 + (k - 1) * lhs.2);
    debug_assert!(rhs.0.len() > (k - 1) * rhs.1 + (n - 1) * rhs.2);
    // SAFETY: every index the product touches is inside the slices: `dst` is m×n, `lhs` m×k
    // and `rhs` k×n with the given strides (checked by callers' shapes, and by the assertions
    // above in debug builds; the slices come from buffers sized from the same geometry).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// `y = conv2d(x, w)` without bias: `[B, O, Ho, Wo]`.
///
/// Stride-1 convolutions with large outputs take [`direct`]'s micro-kernel where the CPU
/// prefers it (`forward_direct`); otherwise those with few output channels take the implicit
/// path (`forward_implicit`), the others im2col (`forward_im2col`).
pub fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    if g.space_to_depth() {
        space_to_depth::forward(g, x, w)
    } else if let Some(kernel) = g.direct_forward() {
        forward_direct(kernel, g, x, w)
    } else if g.implicit_forward() {
        forward_implicit(g, x, w)
    } else {
        forward_im2col(g, x, w)
    }
}

/// [`forward`] by im2col and one product per chunk of images.
fn forward_im2col(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (nb, k, l, o) = (g.chunk(), g.k(), g.l(), g.c_out);
    let par = g.inner();
    let mut y = vec![0.0f32; g.batch * g.image_out()];
    y.par_chunks_mut(nb * g.image_out())
        .zip(x.par_chunks(nb * g.image_in()))
        .for_each(|(yc, xc)| {
            let nb = xc.len() / g.image_in();
            let n = nb * l;
            with_scratch(k * n, if nb > 1 { o * n } else { 0 }, |col, tmp| {
                im2col(g, xc, nb, col);
                if nb == 1 {
                    matmul(o, n, k, (yc, n, 1), false, (w, k, 1), (col, n, 1), par);
                    return;
                }
                matmul(o, n, k, (tmp, n, 1), false, (w, k, 1), (col, n, 1), par);
                for b in 0..nb {
                    for oc in 0..o {
                        yc[(b * o + oc) * l..][..l].copy_from_slice(&tmp[oc * n + b * l..][..l]);
                    }
                }
            })
        });
    y
}

/// Gradient with respect to `x`: `[B, C, H, W]`.
///
/// A convolution again, run by [`forward`]: with stride 1, of `dy` with the kernel flipped in
/// space and transposed in channels, at padding `k − 1 − p`. With stride s, the input pixels
/// split into s² phases by their position modulo s; each phase only meets the taps of the
/// same phase, so its gradient is a stride-1 convolution of `dy` with that sub-kernel,
/// written back at stride s.
///
/// Small strided planes (under 256 pixels) go through the scatter instead, which is faster
/// there than s² tiny products.
pub fn backward_x(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    if g.space_to_depth() {
        space_to_depth::backward_x(g, dy, w)
    } else if g.stride != [1, 1] && g.h * g.w < 256 {
        backward_x_scatter(g, dy, w)
    } else {
        backward_x_phases(g, dy, w)
    }
}

/// [`backward_x`] by the phase decomposition.
fn backward_x_phases(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let phase = |r0, r1| Some((Phase::new(g, 0, r0)?, Phase::new(g, 1, r1)?));
    if g.stride == [1, 1] {
        // one phase with every tap and every pixel, computed in place
        let (a, b) = phase(0, 0).expect("stride 1: phase 0 holds every tap and pixel");
        return phase_gradient(g, &a, &b, dy, w);
    }
    let (s0, s1) = (g.stride[0], g.stride[1]);
    let mut dx = vec![0.0f32; g.batch * g.image_in()];
    for r0 in 0..s0 {
        for r1 in 0..s1 {
            // no tap, or no pixel, of this phase: its gradient stays zero
            let Some((a, b)) = phase(r0, r1) else { continue };
            let part = phase_gradient(g, &a, &b, dy, w);
            dx.par_chunks_mut(g.h * g.w)
                .zip(part.par_chunks(a.count * b.count))
                .for_each(|(dst, src)| {
                    for (q0, row) in src.chunks_exact(b.count).enumerate() {
                        let ih = a.first_pixel + q0 * s0;
                        let dst_row = &mut dst[ih * g.w..(ih + 1) * g.w];
                        for (v, d) in row.iter().zip(dst_row[b.first_pixel..].iter_mut().step_by(s1)) {
                            *d = *v;
                        }
                    }
                });
        }
    }
    dx
}

/// The gradient of the pixels of phase `(a, b)`, `[B, C, a.count, b.count]`: the stride-1
/// convolution of `dy` with the phase's flipped, transposed taps.
fn phase_gradient(g: &Geometry, a: &Phase, b: &Phase, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let window = Geometry::window(
        [g.batch, g.c_out, g.ho, g.wo],
        [g.c_in, g.c_out, a.taps, b.taps],
        [a.padding, b.padding],
        [a.count, b.count],
    );
    forward(&window, dy, &phase_kernel(g, a, b, w))
}

/// One phase `r` of a strided dimension: the input pixels `i ≡ r − p (mod s)` and the taps
/// `t ≡ r (mod s)` that reach them.
struct Phase {
    /// Taps of this phase, `⌈(k − r)/s⌉`.
    taps: usize,
    /// The first tap, `r` (the others follow at the stride).
    r: usize,
    /// Pixels of this phase, and the first one.
    count: usize,
    first_pixel: usize,
    /// Signed padding of the stride-1 window over `dy`.
    padding: isize,
}

impl Phase {
    fn new(g: &Geometry, dim: usize, r: usize) -> Option<Self> {
        let (s, k, p, size) = if dim == 0 {
            (g.stride[0] as isize, g.kh, g.padding[0], g.h as isize)
        } else {
            (g.stride[1] as isize, g.kw, g.padding[1], g.w as isize)
        };
        if r >= k {
            return None;
        }
        let taps = (k - r).div_ceil(s as usize);
        // pixel i = q·s + r − p for q in [q_lo, q_hi)
        let q_lo = ceil_div_nonneg(p - r as isize, s as usize) as isize;
        let q_hi = ceil_div_nonneg(size + p - r as isize, s as usize) as isize;
        if q_hi <= q_lo {
            return None;
        }
        Some(Self {
            taps,
            r,
            count: (q_hi - q_lo) as usize,
            first_pixel: (q_lo * s + r as isize - p) as usize,
            // dx[q] = Σ_t dy[q − t]·w[r + s·t]: the window starts at q_lo − (taps − 1)
            padding: taps as isize - 1 - q_lo,
        })
    }
}

/// `w'[c, o, a, b] = w[o, c, r0 + s0·(ka − 1 − a), r1 + s1·(kb − 1 − b)]`: the phase's taps,
/// flipped in space and transposed in channels. Written in blocks of [`TRANSPOSE_TILE`] input
/// channels in parallel, each block's output channels in tiles of as many, so that the rows of
/// `w` a tile reads stay in the cache across the block's channels (ResNet's 512-channel
/// weights are 9 MiB, and a plain loop misses the cache on nearly every write).
fn phase_kernel(g: &Geometry, a: &Phase, b: &Phase, w: &[f32]) -> Vec<f32> {
    let (o_n, taps, k2) = (g.c_out, a.taps * b.taps, g.kh * g.kw);
    let mut out = vec![0.0f32; g.c_in * o_n * taps];
    out.par_chunks_mut(TRANSPOSE_TILE * o_n * taps)
        .enumerate()
        .for_each(|(block, dst)| {
            let c0 = block * TRANSPOSE_TILE;
            for o0 in (0..o_n).step_by(TRANSPOSE_TILE) {
                for (dc, dst_c) in dst.chunks_exact_mut(o_n * taps).enumerate() {
                    for o in o0..(o0 + TRANSPOSE_TILE).min(o_n) {
                        let src = &w[(o * g.c_in + c0 + dc) * k2..][..k2];
                        let dst_o = &mut dst_c[o * taps..][..taps];
                        for i in 0..a.taps {
                            for j in 0..b.taps {
                                let ti = a.r + g.stride[0] * (a.taps - 1 - i);
                                let tj = b.r + g.stride[1] * (b.taps - 1 - j);
                                dst_o[i * b.taps + j] = src[ti * g.kw + tj];
                            }
                        }
                    }
                }
            }
        });
    out
}

/// `w` flipped in space and transposed in channels, `[C, O, kh, kw]`: the kernel whose stride-1
/// convolution of `dy` is a stride-1 convolution's input gradient ([`phase_kernel`] of the one
/// phase that holds every tap).
pub(super) fn flipped_kernel(g: &Geometry, w: &[f32]) -> Vec<f32> {
    debug_assert_eq!(g.stride, [1, 1]);
    let phase = |dim| Phase::new(g, dim, 0).expect("stride 1: phase 0 holds every tap and pixel");
    phase_kernel(g, &phase(0), &phase(1), w)
}

/// Channels per block and output channels per tile of [`phase_kernel`].
const TRANSPOSE_TILE: usize = 16;

/// The input gradient as the adjoint of im2col (a scatter): used for small strided planes,
/// and the reference the phase decomposition is tested against.
fn backward_x_scatter(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (nb, k, l, o) = (g.chunk(), g.k(), g.l(), g.c_out);
    let par = g.inner();
    let mut dx = vec![0.0f32; g.batch * g.image_in()];
    dx.par_chunks_mut(nb * g.image_in())
        .zip(dy.par_chunks(nb * g.image_out()))
        .for_each(|(dxc, dyc)| {
            let nb = dyc.len() / g.image_out();
            let n = nb * l;
            with_scratch(k * n, o * n, |dcol, packed| {
                gather_out(g, dyc, nb, packed);
                // dcol[K][n] = wᵀ[K][O] · packed[O][n]
                matmul(k, n, o, (dcol, n, 1), false, (w, 1, k), (packed, n, 1), par);
                col2im_add(g, dcol, nb, dxc);
            })
        });
    dx
}

/// Gradient with respect to `w`: `[O, C, kh, kw]`.
///
/// The chunks are summed in a fixed grouping ([`SUM_GROUPS`] partial sums, added in order), so
/// the result does not depend on how rayon schedules the work: seeded runs repeat bit for bit.
/// Stride-1 convolutions with large outputs and few output channels take the implicit path
/// (`backward_w_implicit`).
pub fn backward_w(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    if g.space_to_depth() {
        space_to_depth::backward_w(g, x, dy)
    } else if g.implicit() {
        backward_w_implicit(g, x, dy)
    } else {
        backward_w_im2col(g, x, dy)
    }
}

/// [`backward_w`] by im2col.
fn backward_w_im2col(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (nb, k, l, o) = (g.chunk_w(), g.k(), g.l(), g.c_out);
    let chunks = g.batch.div_ceil(nb);
    let par = group_parallelism(chunks);
    sum_in_groups(chunks, o * k, |units, acc| {
        for chunk in units {
            let (b0, b1) = (chunk * nb, ((chunk + 1) * nb).min(g.batch));
            let nb = b1 - b0;
            let n = nb * l;
            let xc = &x[b0 * g.image_in()..b1 * g.image_in()];
            let dyc = &dy[b0 * g.image_out()..b1 * g.image_out()];
            with_scratch(k * n, o * n, |col, packed| {
                im2col(g, xc, nb, col);
                gather_out(g, dyc, nb, packed);
                // acc[O][K] += packed[O][n] · colᵀ[n][K]
                matmul(o, k, n, (acc, k, 1), true, (packed, n, 1), (col, 1, n), par);
            });
        }
    })
}

/// `Σ_units f(unit)` into a buffer of `len`: the units split into at most [`SUM_GROUPS`]
/// consecutive groups, one accumulator per group (filled by `f(group's units, acc)`, groups
/// in parallel), the accumulators then added in group order. The grouping depends only on
/// `units`, so the result does not depend on the thread count or rayon's scheduling.
pub(super) fn sum_in_groups(
    units: usize,
    len: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [f32]) + Sync,
) -> Vec<f32> {
    let per_group = units_per_group(units);
    let partial: Vec<Vec<f32>> = (0..units.div_ceil(per_group))
        .into_par_iter()
        .map(|group| {
            let mut acc = vec![0.0f32; len];
            f(group * per_group..((group + 1) * per_group).min(units), &mut acc);
            acc
        })
        .collect();
    // the first group's sum is the start of every entry's sum, the others added in group
    // order, entry by entry: spans of entries in parallel (the weights of ResNet's last
    // layers are 9 MiB per group, and a single thread's pass over all groups took as long
    // as a tenth of the product)
    let mut groups = partial.into_iter();
    let Some(mut total) = groups.next() else {
        return vec![0.0f32; len];
    };
    let rest: Vec<Vec<f32>> = groups.collect();
    const SPAN: usize = 1 << 14;
    total.par_chunks_mut(SPAN).enumerate().for_each(|(i, span)| {
        for p in &rest {
            span.iter_mut().zip(&p[i * SPAN..]).for_each(|(t, v)| *t += v);
        }
    });
    total
}

/// An image's input planes, zero-padded to cover every window: `rows = (Ho − 1)·s₀ + kh` rows
/// of `width = (Wo − 1)·s₁ + kw`, plane entry `(r, cc)` holding input `(r − p₀, cc − p₁)` (zero
/// outside the input). Output `(oh, ow)` at tap `(i, j)` reads entry `(oh·s₀ + i, ow·s₁ + j)`.
///
/// With stride 1 the implicit products read the planes in place. Over the "wide" output grid
/// `q = oh·width + ow` (`ow < width`), tap `(i, j)` is then the planes shifted by
/// `i·width + j`: one matrix `[C][Ho·width]` with row stride `rows·width`, and the convolution
/// is `kh·kw` products of `C` channels accumulated into the wide output, whose columns
/// `ow ≥ Wo` are discarded. Wide columns read past their own row (into the next row, or
/// `kw − 1` entries past the last plane, kept zero); only discarded columns do.
#[derive(Debug, Clone, Copy)]
struct Planes {
    rows: usize,
    width: usize,
}

impl Planes {
    fn new(g: &Geometry) -> Self {
        Self {
            rows: (g.ho - 1) * g.stride[0] + g.kh,
            width: (g.wo - 1) * g.stride[1] + g.kw,
        }
    }

    fn plane(&self) -> usize {
        self.rows * self.width
    }

    /// Length of one image's planes, with the zero tail.
    fn len(&self, g: &Geometry) -> usize {
        g.c_in * self.plane() + g.kw
    }

    /// Columns of the wide output grid (stride 1).
    fn n(&self, g: &Geometry) -> usize {
        g.ho * self.width
    }

    /// Fills `xp` with the padded planes of one image `x` `[C, H, W]`.
    fn fill(&self, g: &Geometry, x: &[f32], xp: &mut [f32]) {
        let (p0, p1) = (g.padding[0], g.padding[1]);
        // plane columns cc read input column cc − p1: valid for cc in [first, end)
        let first = p1.clamp(0, self.width as isize) as usize;
        let end = (g.w as isize + p1).clamp(first as isize, self.width as isize) as usize;
        for c in 0..g.c_in {
            let plane = &x[c * g.h * g.w..][..g.h * g.w];
            for rr in 0..self.rows {
                let row = &mut xp[c * self.plane() + rr * self.width..][..self.width];
                let ih = rr as isize - p0;
                if ih < 0 || ih >= g.h as isize || first == end {
                    row.fill(0.0);
                    continue;
                }
                let src = &plane[ih as usize * g.w..][..g.w];
                let iw0 = (first as isize - p1) as usize;
                row[..first].fill(0.0);
                row[first..end].copy_from_slice(&src[iw0..iw0 + end - first]);
                row[end..].fill(0.0);
            }
        }
        let tail = g.c_in * self.plane();
        xp[tail..].fill(0.0);
    }
}

impl Geometry {
    /// Whether the implicit stride-1 path ([`Planes`]) computes this convolution's weight
    /// gradient: stride 1, at least 256 output pixels per image and at most 64 output
    /// channels. Below 256 pixels a tap's product is too small for the `gemm` crate to run
    /// well and the wide grid wastes a larger share; im2col costs a copy of nine times the
    /// input per image, which matters less the more output channels share it.
    fn implicit(&self) -> bool {
        self.stride == [1, 1] && self.l() >= 256 && self.c_out <= 64
    }

    /// Whether the implicit path computes the forward product: as [`Self::implicit`], and at
    /// least 8 input channels (each tap's product sums over the input channels only).
    fn implicit_forward(&self) -> bool {
        self.implicit() && self.c_in >= 8
    }
}

impl Geometry {
    /// The [`direct`] micro-kernel that computes the forward product, if any: stride 1, at
    /// least 256 output pixels per image (below that the wide grid's discarded columns and the
    /// rounding to whole blocks waste a larger share), on a CPU that runs one
    /// ([`direct::chosen`]).
    fn direct_forward(&self) -> Option<direct::Kernel> {
        direct::chosen().filter(|_| self.stride == [1, 1] && self.l() >= 256)
    }
}

/// [`forward`] by one of [`direct`]'s micro-kernels (stride 1): per image, the padded planes,
/// then every block of the wide output at once over all `C·kh·kw` taps.
fn forward_direct(kernel: direct::Kernel, g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    debug_assert_eq!(g.stride, [1, 1]);
    let (pl, o) = (Planes::new(g), g.c_out);
    let n = pl.n(g);
    let n_pad = n.next_multiple_of(kernel.nr());
    let packed = direct::pack(kernel, w, o, g.k());
    let offsets: Vec<usize> = (0..g.c_in)
        .flat_map(|c| (0..g.kh).flat_map(move |i| (0..g.kw).map(move |j| (c, i, j))))
        .map(|(c, i, j)| c * pl.plane() + i * pl.width + j)
        .collect();
    // the last block reads up to n_pad − n entries past the planes' zero tail
    let xp_len = pl.len(g) + (n_pad - n);
    let mut y = vec![0.0f32; g.batch * g.image_out()];
    y.par_chunks_mut(g.image_out())
        .zip(x.par_chunks(g.image_in()))
        .for_each(|(yi, xi)| {
            with_scratch(xp_len, o * n_pad, |xp, wide| {
                pl.fill(g, xi, xp);
                direct::conv(kernel, &packed, &offsets, o, xp, wide, n_pad);
                for (dst, src) in yi.chunks_exact_mut(g.l()).zip(wide.chunks_exact(n_pad)) {
                    for (d, s) in dst.chunks_exact_mut(g.wo).zip(src.chunks_exact(pl.width)) {
                        d.copy_from_slice(&s[..g.wo]);
                    }
                }
            })
        });
    y
}

/// Parallelism inside each product when `tasks` run side by side: none when the tasks already
/// occupy the threads.
pub(super) fn inner_parallelism(tasks: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if tasks >= threads || threads <= 1 {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

/// [`forward`] without im2col (stride 1): per image, `kh·kw` products
/// `wide[O][n] += w[:, :, i, j]·shifted planes[C][n]` (see [`Planes`]).
fn forward_implicit(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    debug_assert_eq!(g.stride, [1, 1]);
    let (pl, o, taps) = (Planes::new(g), g.c_out, g.kh * g.kw);
    let (n, k) = (pl.n(g), g.k());
    let par = inner_parallelism(g.batch);
    let mut y = vec![0.0f32; g.batch * g.image_out()];
    y.par_chunks_mut(g.image_out())
        .zip(x.par_chunks(g.image_in()))
        .for_each(|(yi, xi)| {
            with_scratch(pl.len(g), o * n, |xp, wide| {
                pl.fill(g, xi, xp);
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let t = i * g.kw + j;
                        let shifted = &xp[i * pl.width + j..];
                        let taps_w = (&w[t..], k, taps);
                        matmul(
                            o,
                            n,
                            g.c_in,
                            (wide, n, 1),
                            t > 0,
                            taps_w,
                            (shifted, pl.plane(), 1),
                            par,
                        );
                    }
                }
                for (dst, src) in yi.chunks_exact_mut(g.wo).zip(wide.chunks_exact(pl.width)) {
                    dst.copy_from_slice(&src[..g.wo]);
                }
            })
        });
    y
}

/// [`backward_w`] without im2col (stride 1): per image and tap,
/// `∂w[:, :, i, j] += wide dy[O][n] · shifted planesᵀ[n][C]`, where the wide `dy` is zero in
/// the discarded columns (so what those columns read does not count). Images are summed in
/// [`SUM_GROUPS`] fixed groups, as in the im2col path.
fn backward_w_implicit(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert_eq!(g.stride, [1, 1]);
    let (pl, o, taps) = (Planes::new(g), g.c_out, g.kh * g.kw);
    let (n, k) = (pl.n(g), g.k());
    let par = group_parallelism(g.batch);
    sum_in_groups(g.batch, o * k, |images, acc| {
        for b in images {
            let xi = &x[b * g.image_in()..][..g.image_in()];
            let dyi = &dy[b * g.image_out()..][..g.image_out()];
            with_scratch(pl.len(g), o * n, |xp, wide| {
                pl.fill(g, xi, xp);
                for (dst, src) in wide.chunks_exact_mut(pl.width).zip(dyi.chunks_exact(g.wo)) {
                    dst[..g.wo].copy_from_slice(src);
                    dst[g.wo..].fill(0.0);
                }
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        let t = i * g.kw + j;
                        let shifted = &xp[i * pl.width + j..];
                        let dst = (&mut acc[t..], k, taps);
                        matmul(
                            o,
                            g.c_in,
                            n,
                            dst,
                            true,
                            (wide, n, 1),
                            (shifted, 1, pl.plane()),
                            par,
                        );
                    }
                }
            });
        }
    })
}

/// Units per group of [`sum_in_groups`]: as even a split into [`SUM_GROUPS`] as whole units allow.
fn units_per_group(units: usize) -> usize {
    units.div_ceil(SUM_GROUPS.min(units).max(1)).max(1)
}

/// Parallelism inside each product of a [`sum_in_groups`] over `units`: its groups run side by
/// side.
pub(super) fn group_parallelism(units: usize) -> Parallelism {
    inner_parallelism(units.div_ceil(units_per_group(units)))
}

/// How many partial sums [`backward_w`] splits the batch into (independent of the thread
/// count, so results agree bit for bit across thread counts).
pub const SUM_GROUPS: usize = 8;

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Direct seven-loop convolution, the definition the kernels must agree with.
    pub(in super::super) fn reference(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f32; g.batch * g.c_out * g.l()];
        for b in 0..g.batch {
            for o in 0..g.c_out {
                for oh in 0..g.ho {
                    for ow in 0..g.wo {
                        let mut s = 0.0f64;
                        for c in 0..g.c_in {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let ih = (oh * g.stride[0] + i) as isize - g.padding[0];
                                    let iw = (ow * g.stride[1] + j) as isize - g.padding[1];
                                    if ih >= 0 && iw >= 0 && (ih as usize) < g.h && (iw as usize) < g.w {
                                        let xv =
                                            x[((b * g.c_in + c) * g.h + ih as usize) * g.w + iw as usize];
                                        let wv = w[((o * g.c_in + c) * g.kh + i) * g.kw + j];
                                        s += xv as f64 * wv as f64;
                                    }
                                }
                            }
                        }
                        y[((b * g.c_out + o) * g.ho + oh) * g.wo + ow] = s as f32;
                    }
                }
            }
        }
        y
    }

    pub(in super::super) fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    pub(in super::super) fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    /// (x shape, weight shape, stride, padding)
    pub(in super::super) type Case = ([usize; 4], [usize; 4], [usize; 2], [usize; 2]);
    const CASES: [Case; 6] = [
        ([3, 2, 7, 6], [4, 2, 3, 3], [1, 1], [1, 1]),
        ([5, 1, 28, 28], [16, 1, 4, 4], [2, 2], [1, 1]),
        ([4, 3, 9, 9], [2, 3, 4, 2], [2, 3], [1, 0]),
        ([2, 4, 5, 5], [3, 4, 1, 1], [1, 1], [0, 0]),
        ([7, 2, 8, 8], [6, 2, 3, 3], [3, 3], [2, 2]),
        ([1, 3, 6, 5], [2, 3, 5, 5], [1, 1], [0, 2]),
    ];

    #[test]
    fn forward_matches_the_definition() {
        for (xs, ws, s, p) in CASES {
            let g = Geometry::new(xs, ws, s, p).unwrap();
            let x = noise(xs.iter().product(), 1);
            let w = noise(ws.iter().product(), 2);
            let (got, want) = (forward(&g, &x, &w), reference(&g, &x, &w));
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{xs:?} {ws:?} s{s:?} p{p:?}: {a} vs {b}");
            }
        }
    }

    /// ⟨conv(x), dy⟩ = ⟨x, backward_x(dy)⟩ and, bilinear in w, = ⟨w, backward_w(x, dy)⟩.
    #[test]
    fn gradients_are_the_adjoints_of_the_forward() {
        for (xs, ws, s, p) in CASES {
            let g = Geometry::new(xs, ws, s, p).unwrap();
            let x = noise(xs.iter().product(), 3);
            let w = noise(ws.iter().product(), 4);
            let dy = noise(g.batch * g.c_out * g.l(), 5);
            let lhs = dot(&forward(&g, &x, &w), &dy);
            let via_x = dot(&x, &backward_x(&g, &dy, &w));
            let via_w = dot(&w, &backward_w(&g, &x, &dy));
            let tol = 1e-4 * (1.0 + lhs.abs());
            assert!((lhs - via_x).abs() < tol, "{xs:?} {ws:?}: {lhs} vs {via_x}");
            assert!((lhs - via_w).abs() < tol, "{xs:?} {ws:?}: {lhs} vs {via_w}");
        }
    }

    /// Stride-1 cases for the implicit path, whatever their size: odd and even kernels,
    /// paddings from 0 to beyond the kernel, non-square planes, and the negative paddings of
    /// the input-gradient windows.
    const STRIDE_1: [([usize; 4], [usize; 4], [isize; 2]); 6] = [
        ([3, 2, 7, 6], [4, 2, 3, 3], [1, 1]),
        ([2, 4, 5, 5], [3, 4, 1, 1], [0, 0]),
        ([1, 3, 6, 5], [2, 3, 5, 5], [0, 2]),
        ([2, 3, 9, 4], [5, 3, 2, 4], [3, 1]),
        ([3, 5, 8, 8], [2, 5, 3, 2], [-1, 0]),
        ([2, 2, 17, 16], [3, 2, 3, 3], [1, 1]),
    ];

    fn stride_1(xs: [usize; 4], ws: [usize; 4], p: [isize; 2]) -> Geometry {
        let out = |size: usize, k: usize, p: isize| (size as isize + 2 * p - k as isize + 1) as usize;
        Geometry::window(xs, ws, p, [out(xs[2], ws[2], p[0]), out(xs[3], ws[3], p[1])])
    }

    #[test]
    fn implicit_products_match_the_definition_and_the_im2col_path() {
        for (xs, ws, p) in STRIDE_1 {
            let g = stride_1(xs, ws, p);
            let x = noise(xs.iter().product(), 21);
            let w = noise(ws.iter().product(), 22);
            let dy = noise(g.batch * g.c_out * g.l(), 23);
            let got = forward_implicit(&g, &x, &w);
            for (a, b) in got.iter().zip(&reference(&g, &x, &w)) {
                assert!((a - b).abs() < 1e-4, "{xs:?} {ws:?} p{p:?}: {a} vs {b}");
            }
            let (a, b) = (backward_w_implicit(&g, &x, &dy), backward_w_im2col(&g, &x, &dy));
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{xs:?} {ws:?} p{p:?} at {i}: {a} vs {b}"
                );
            }
            // and ⟨w, ∂w⟩ = ⟨conv(x), dy⟩ by the definition, independently of the im2col path
            let lhs = dot(&reference(&g, &x, &w), &dy);
            let via_w = dot(&w, &a);
            assert!(
                (lhs - via_w).abs() < 1e-4 * (1.0 + lhs.abs()),
                "{xs:?} {ws:?}: {lhs} vs {via_w}"
            );
        }
    }

    /// Each of [`direct`]'s micro-kernels this CPU runs, on every stride-1 case above (output
    /// channels not a multiple of its block, wide grids not a multiple of its width, negative
    /// paddings) and on two ResNet-sized layers (one with 16 output channels, two whole AVX-512
    /// blocks): against the definition.
    #[test]
    fn direct_path_matches_the_definition() {
        let cases: Vec<_> = STRIDE_1
            .into_iter()
            .chain([
                ([2, 16, 16, 16], [7, 16, 3, 3], [1, 1]),
                ([1, 5, 16, 16], [16, 5, 3, 3], [1, 1]),
            ])
            .collect();
        for kernel in direct::Kernel::ALL {
            if !kernel.supported() {
                eprintln!("skipped: this CPU cannot run the {kernel:?} direct micro-kernel");
                continue;
            }
            for &(xs, ws, p) in &cases {
                let g = stride_1(xs, ws, p);
                let x = noise(xs.iter().product(), 41);
                let w = noise(ws.iter().product(), 42);
                let got = forward_direct(kernel, &g, &x, &w);
                let want = reference(&g, &x, &w);
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "{kernel:?} {xs:?} {ws:?} p{p:?} at {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// [`im2col`] entry by entry against its definition, several images at once, on every
    /// geometry above, on rows long enough for the `memcpy` branch (stride 1 and 2), and on
    /// unpadded strided windows (planes read in place).
    #[test]
    fn im2col_matches_its_definition() {
        let extra: [Case; 4] = [
            ([2, 2, 5, 70], [3, 2, 3, 3], [1, 1], [1, 1]),
            ([3, 2, 9, 70], [2, 2, 3, 4], [2, 2], [1, 2]),
            ([3, 4, 8, 8], [2, 4, 1, 1], [2, 2], [0, 0]),
            ([2, 2, 7, 9], [3, 2, 3, 3], [2, 2], [0, 0]),
        ];
        let geometries = CASES
            .into_iter()
            .chain(extra)
            .map(|(xs, ws, s, p)| Geometry::new(xs, ws, s, p).unwrap())
            .chain(STRIDE_1.map(|(xs, ws, p)| stride_1(xs, ws, p)));
        for g in geometries {
            let x = noise(g.batch * g.image_in(), 31);
            let n = g.batch * g.l();
            let mut col = vec![f32::NAN; g.k() * n];
            im2col(&g, &x, g.batch, &mut col);
            for (r, row) in col.chunks_exact(n).enumerate() {
                let (c, i, j) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
                for (q, &got) in row.iter().enumerate() {
                    let (b, oh, ow) = (q / g.l(), q % g.l() / g.wo, q % g.wo);
                    let ih = (oh * g.stride[0] + i) as isize - g.padding[0];
                    let iw = (ow * g.stride[1] + j) as isize - g.padding[1];
                    let inside = (0..g.h as isize).contains(&ih) && (0..g.w as isize).contains(&iw);
                    let want = if inside {
                        x[((b * g.c_in + c) * g.h + ih as usize) * g.w + iw as usize]
                    } else {
                        0.0
                    };
                    assert_eq!(got, want, "{g:?}: row ({c}, {i}, {j}), column ({b}, {oh}, {ow})");
                }
            }
        }
    }

    #[test]
    fn phase_split_input_gradient_equals_the_scatter() {
        // the last two: channels over two tiles of `phase_kernel`'s transpose, counts not
        // multiples of a tile
        let extra: [Case; 5] = [
            ([2, 3, 32, 32], [4, 3, 4, 4], [2, 2], [1, 1]),
            ([2, 2, 7, 9], [3, 2, 3, 3], [2, 2], [0, 0]),
            ([3, 2, 10, 11], [2, 2, 5, 4], [3, 2], [2, 1]),
            ([2, 18, 5, 6], [35, 18, 3, 3], [1, 1], [1, 1]),
            ([2, 33, 7, 7], [17, 33, 3, 3], [2, 2], [1, 1]),
        ];
        for (xs, ws, st, p) in CASES.into_iter().chain(extra) {
            let g = Geometry::new(xs, ws, st, p).unwrap();
            let w = noise(ws.iter().product(), 11);
            let dy = noise(g.batch * g.c_out * g.l(), 12);
            let (a, b) = (backward_x_phases(&g, &dy, &w), backward_x_scatter(&g, &dy, &w));
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{xs:?} {ws:?} s{st:?} p{p:?} at {i}: {a} vs {b}"
                );
            }
        }
    }

    /// Every entry of [`sum_in_groups`]' result is the sum over all units, on a length of
    /// several spans of the final addition and a part span, with more units than groups.
    #[test]
    fn grouped_sums_cover_every_unit_and_entry() {
        let (units, len) = (13, 3 * (1 << 14) + 5);
        // not periodic in the span length, and unit-dependent, so an entry summed with
        // another entry's terms, or without some unit's, comes out different
        let term = |u: usize, j: usize| ((u + 1) * (j % 97 + 1)) as f32;
        let total = sum_in_groups(units, len, |range, acc| {
            for u in range {
                acc.iter_mut().enumerate().for_each(|(j, a)| *a += term(u, j));
            }
        });
        assert_eq!(total.len(), len);
        for (j, got) in total.iter().enumerate() {
            // small integers: every order of addition gives the exact sum
            let want: f32 = (0..units).map(|u| term(u, j)).sum();
            assert_eq!(*got, want, "entry {j}");
        }
    }

    #[test]
    fn weight_gradient_is_deterministic() {
        let g = Geometry::new([64, 3, 9, 9], [4, 3, 3, 3], [1, 1], [1, 1]).unwrap();
        let x = noise(64 * 3 * 81, 9);
        let dy = noise(g.batch * g.c_out * g.l(), 10);
        let first = backward_w(&g, &x, &dy);
        for _ in 0..20 {
            assert_eq!(backward_w(&g, &x, &dy), first);
        }
    }

    /// Bit for bit the same weight gradient on 1, 2 and 3 threads, by every path: im2col
    /// (4 × 4 output, where a chunk per thread would mean 12, 6 or 4 images per chunk),
    /// the implicit stride-1 path and space-to-depth.
    #[test]
    fn weight_gradient_does_not_follow_the_thread_count() {
        let cases = [
            ([12, 4, 4, 4], [5, 4, 3, 3], [1, 1], [1, 1]),
            ([12, 2, 16, 16], [3, 2, 3, 3], [1, 1], [1, 1]),
            ([12, 3, 8, 8], [4, 3, 4, 4], [2, 2], [1, 1]),
        ];
        for (xs, ws, s, p) in cases {
            let g = Geometry::new(xs, ws, s, p).unwrap();
            let x = noise(xs.iter().product(), 21);
            let dy = noise(g.batch * g.c_out * g.l(), 22);
            let on = |threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| backward_w(&g, &x, &dy))
            };
            let one = on(1);
            for threads in [2, 3] {
                assert!(on(threads) == one, "{g:?}: {threads} threads differ from one");
            }
        }
    }

    #[test]
    fn weight_gradient_matches_finite_differences_of_the_definition() {
        let (xs, ws, s, p) = CASES[2];
        let g = Geometry::new(xs, ws, s, p).unwrap();
        let x = noise(xs.iter().product(), 6);
        let mut w = noise(ws.iter().product(), 7);
        let dy = noise(g.batch * g.c_out * g.l(), 8);
        let grad = backward_w(&g, &x, &dy);
        for idx in [0, 5, w.len() - 1] {
            let h = 1e-2;
            w[idx] += h;
            let up = dot(&reference(&g, &x, &w), &dy);
            w[idx] -= 2.0 * h;
            let down = dot(&reference(&g, &x, &w), &dy);
            w[idx] += h;
            let fd = (up - down) / (2.0 * h as f64);
            assert!(
                (fd - grad[idx] as f64).abs() < 1e-2 * (1.0 + fd.abs()),
                "{idx}: {fd} vs {}",
                grad[idx]
            );
        }
    }
}
