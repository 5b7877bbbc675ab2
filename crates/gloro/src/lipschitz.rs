//! Per-layer Lipschitz bounds by power iteration (GloRo Nets §4, "Computing K").
//!
//! The spectral norm ‖A‖₂ of a linear layer A is the square root of the largest eigenvalue of
//! AᵀA; power iteration `v ← AᵀA v / ‖AᵀA v‖` converges to its eigenvector, and ‖A v‖ for a unit
//! `v` is then the bound. The iterate `v` is persistent module state (a
//! [`RunningState`], saved with the model, never trained): each training step advances it a
//! few iterations with the weights detached, and the gradient flows only through the final
//! ‖A v‖. Before certification, [`LipschitzLayer::converge`] runs it to convergence.
//!
//! - dense `x ↦ xW` (Burn stores `W` as `[in, out]`): `v ← (vW)Wᵀ`;
//! - conv2d: `v ← conv_transpose2d(conv2d(v))` on an iterate of the layer's input shape, with
//!   the output padding that restores that shape (the adjoint of the strided, padded conv).
//!
//! Activations (MinMax, ReLU) and flatten have constant 1 and carry no iterate.

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

/// A layer whose Lipschitz constant (in ℓ2) is bounded by power iteration.
pub trait LipschitzLayer {
    /// Advances the persistent iterate by `steps` power iterations (weights detached).
    fn advance(&self, steps: usize);
    /// ‖A v‖ for the current unit iterate `v`, differentiable in the weights: `[1]`.
    fn bound(&self) -> Tensor<1>;
    /// λ = ‖A v‖² and the residual ‖AᵀA v − λ v‖ at the current unit iterate. AᵀA is
    /// symmetric, so some eigenvalue lies within the residual of λ (Bauer–Fike); once `v` has
    /// converged to the top eigenvector, √(λ + residual) bounds ‖A‖₂ from above even though
    /// the plain estimate ‖A v‖ approaches it from below.
    fn rayleigh_residual(&self) -> (f64, f64);
    /// √(λ + residual): an estimate that is an upper bound only when the iterate has found the
    /// top eigenvector, which nothing checks (two nearly equal top singular values and an
    /// iterate near the second defeat it). Certificates use [`crate::bounds`] instead.
    fn certified_bound(&self) -> f64 {
        let (lambda, residual) = self.rayleigh_residual();
        (lambda + residual).sqrt()
    }
    /// Runs power iteration until the residual ‖AᵀA v − λ v‖ is at most `tol`·λ, at most
    /// `max_iters` iterations; returns √λ, or an error when the residual is still above the
    /// tolerance (or λ is not finite and positive) after `max_iters`. A converged iterate is
    /// left untouched, so calling this again (or on a saved and reloaded model) gives the same
    /// estimate.
    fn converge(&self, tol: f64, max_iters: usize) -> Result<f64, String> {
        let mut done = 0;
        loop {
            let (lambda, residual) = self.rayleigh_residual();
            if lambda.is_finite() && lambda > 0.0 && residual <= tol * lambda {
                return Ok(lambda.sqrt());
            }
            if done >= max_iters {
                return Err(format!(
                    "power iteration did not converge in {max_iters} iterations \
                     (λ = {lambda:e}, residual {residual:e} > {tol:e}·λ)"
                ));
            }
            self.advance(10);
            done += 10;
        }
    }
}

fn unit<const D: usize>(v: Tensor<D>) -> Tensor<D> {
    let n = v.clone().powf_scalar(2.0).sum().sqrt().clamp_min(1e-12);
    let dims = [1; D];
    v / n.reshape(dims)
}

fn norm<const D: usize>(v: Tensor<D>) -> Tensor<1> {
    v.powf_scalar(2.0).sum().sqrt()
}

/// Convergence settings of the power iterates (the training estimate and the comparison
/// column of certificates).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Convergence {
    /// A layer counts as converged when its residual ‖AᵀA v − λ v‖ is at most `tol`·λ.
    pub tol: f64,
    /// Iteration cap per layer.
    pub max_iters: usize,
}

impl Default for Convergence {
    fn default() -> Self {
        Self {
            tol: 1e-4,
            max_iters: 5_000,
        }
    }
}

/// How weights are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Orthogonal (Saxe et al.), the default of the reference library.
    Orthogonal,
    /// Glorot/Xavier uniform (Keras' default, used by the paper's MNIST runs).
    Glorot,
}

/// A `rows × cols` matrix with orthonormal rows or columns (whichever are fewer), from the
/// QR decomposition of a Gaussian matrix with the signs of R's diagonal folded into Q
/// (Saxe et al. 2014; PyTorch's `orthogonal_`). Computed on the host with nalgebra: Burn's
/// tensor QR takes minutes for the 4096 × 512 layers of 6C2F.
pub fn orthogonal(rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    let g = Tensor::<2>::random([tall, short], Distribution::Normal(0.0, 1.0), device);
    let v: Vec<f64> = g.into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
    let qr = nalgebra::DMatrix::from_row_slice(tall, short, &v).qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..short {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    let q = if rows < cols { q.transpose() } else { q };
    // row-major copy out of nalgebra's column-major storage
    let out: Vec<f32> = (0..rows)
        .flat_map(|i| (0..cols).map(move |j| (i, j)))
        .map(|(i, j)| q[(i, j)] as f32)
        .collect();
    Tensor::from_data(TensorData::new(out, [rows, cols]), device)
}

/// A dense layer with weights from `init` and zero biases (Keras' defaults).
pub fn dense(d_in: usize, d_out: usize, init: Init, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out)
        .with_bias(false)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device);
    if init == Init::Orthogonal {
        linear.weight = Param::from_tensor(orthogonal(d_in, d_out, device));
    }
    linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
    linear
}

/// A conv2d layer with its power-iteration iterate.
#[derive(Module, Debug)]
pub struct LipConv2d {
    /// The convolution.
    pub conv: Conv2d,
    /// Unit iterate of the layer's input shape `[1, C_in, H, W]`.
    pub iterate: RunningState<Tensor<4>>,
    #[module(skip)]
    /// Its stride.
    pub stride: usize,
    #[module(skip)]
    /// Its zero padding.
    pub padding: usize,
}

impl LipConv2d {
    /// A `kernel × kernel` conv `c_in → c_out` on inputs of `input_hw`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        input_hw: [usize; 2],
        init: Init,
        device: &Device,
    ) -> Self {
        let mut conv = Conv2dConfig::new([c_in, c_out], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
            .with_bias(false)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(device);
        if init == Init::Orthogonal {
            let w = orthogonal(c_out, c_in * kernel * kernel, device).reshape([c_out, c_in, kernel, kernel]);
            conv.weight = Param::from_tensor(w);
        }
        conv.bias = Some(Param::from_tensor(Tensor::zeros([c_out], device)));
        let v = Tensor::<4>::random(
            [1, c_in, input_hw[0], input_hw[1]],
            Distribution::Normal(0.0, 1.0),
            device,
        );
        Self {
            conv,
            iterate: RunningState::new(unit(v).detach()),
            stride,
            padding,
        }
    }

    /// The convolution with bias, through [`repro_core::fast_conv::conv2d`] (same result as
    /// `self.conv.forward`, faster on flex).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let bias = self.conv.bias.as_ref().map(|b| b.val());
        repro_core::fast_conv::conv2d(x, self.weight(), bias, self.options())
    }

    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1)
    }

    /// The adjoint map Aᵀ for an output `u`, restoring the input spatial size `hw`.
    pub fn adjoint(&self, u: Tensor<4>, weight: Tensor<4>, hw: [usize; 2]) -> Tensor<4> {
        let [_, _, k, _] = weight.dims();
        let [_, _, ho, wo] = u.dims();
        let out_pad = |size: usize, out: usize| size + 2 * self.padding - ((out - 1) * self.stride + k);
        let opts = ConvTransposeOptions::new(
            [self.stride; 2],
            [self.padding; 2],
            [out_pad(hw[0], ho), out_pad(hw[1], wo)],
            [1, 1],
            1,
        );
        conv_transpose2d(u, weight, None, opts)
    }

    /// The linear map A (no bias) applied to `v`.
    pub fn apply(&self, v: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
        repro_core::fast_conv::conv2d(v, weight, None, self.options())
    }

    fn weight(&self) -> Tensor<4> {
        self.conv.weight.val()
    }

    fn current(&self) -> Tensor<4> {
        let w = self.weight();
        self.iterate.value_sync().to_device(&w.device()).detach()
    }
}

impl LipschitzLayer for LipConv2d {
    fn advance(&self, steps: usize) {
        let w = self.weight().detach();
        let mut v = self.current();
        let [_, _, h, wd] = v.dims();
        for _ in 0..steps {
            v = unit(self.adjoint(self.apply(v, w.clone()), w.clone(), [h, wd]));
        }
        self.iterate.update(v.detach());
        // publish the update now: records and `valid()` copies must see this iterate
        let _ = self.iterate.value_sync();
    }

    fn bound(&self) -> Tensor<1> {
        norm(self.apply(self.current(), self.weight()))
    }

    fn rayleigh_residual(&self) -> (f64, f64) {
        let w = self.weight().detach();
        let v = self.current();
        let [_, _, h, wd] = v.dims();
        let av = self.apply(v.clone(), w.clone());
        let lambda = av.clone().powf_scalar(2.0).sum();
        let mv = self.adjoint(av, w, [h, wd]);
        let r = norm(mv - v * lambda.clone().reshape([1, 1, 1, 1]));
        (lambda.into_scalar::<f64>(), r.into_scalar::<f64>())
    }
}

/// A dense layer with its power-iteration iterate.
#[derive(Module, Debug)]
pub struct LipDense {
    /// The affine map.
    pub linear: Linear,
    /// Unit iterate `[1, d_in]`.
    pub iterate: RunningState<Tensor<2>>,
}

impl LipDense {
    /// A `d_in → d_out` layer with a random power-iteration start.
    pub fn new(d_in: usize, d_out: usize, init: Init, device: &Device) -> Self {
        let linear = dense(d_in, d_out, init, device);
        let v = Tensor::<2>::random([1, d_in], Distribution::Normal(0.0, 1.0), device);
        Self {
            linear,
            iterate: RunningState::new(unit(v).detach()),
        }
    }

    /// `x Wᵀ + b`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear.forward(x)
    }

    fn current(&self) -> Tensor<2> {
        let w = self.linear.weight.val();
        self.iterate.value_sync().to_device(&w.device()).detach()
    }
}

impl LipschitzLayer for LipDense {
    fn advance(&self, steps: usize) {
        let w = self.linear.weight.val().detach();
        let mut v = self.current();
        for _ in 0..steps {
            v = unit(v.matmul(w.clone()).matmul(w.clone().transpose()));
        }
        self.iterate.update(v.detach());
        let _ = self.iterate.value_sync();
    }

    fn bound(&self) -> Tensor<1> {
        norm(self.current().matmul(self.linear.weight.val()))
    }

    fn rayleigh_residual(&self) -> (f64, f64) {
        let w = self.linear.weight.val().detach();
        let v = self.current();
        let av = v.clone().matmul(w.clone());
        let lambda = av.clone().powf_scalar(2.0).sum();
        let mv = av.matmul(w.transpose());
        let r = norm(mv - v * lambda.clone().reshape([1, 1]));
        (lambda.into_scalar::<f64>(), r.into_scalar::<f64>())
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    fn device() -> Device {
        let d = Device::flex();
        d.seed(11);
        d
    }

    fn vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
    }

    /// Largest singular value of a row-major `rows × cols` matrix.
    fn top_singular(rows: usize, cols: usize, m: &[f64]) -> f64 {
        let svd = nalgebra::DMatrix::from_row_slice(rows, cols, m).svd(false, false);
        svd.singular_values.max()
    }

    /// The conv as a dense matrix `[out_dim, in_dim]`, built by applying it to every basis vector.
    fn materialise(layer: &LipConv2d, c_in: usize, hw: usize) -> (usize, usize, Vec<f64>) {
        let n = c_in * hw * hw;
        let d = device();
        let eye = Tensor::<2>::eye(n, &d).reshape([n, c_in, hw, hw]);
        let out = layer.apply(eye, layer.weight()); // [n, C_out, H', W']: row k is A e_k
        let [_, co, ho, wo] = out.dims();
        let m = co * ho * wo;
        let cols = vec(out.reshape([n, m]));
        // transpose to [m, n]
        let mut a = vec![0.0; m * n];
        for k in 0..n {
            for r in 0..m {
                a[r * n + k] = cols[k * m + r];
            }
        }
        (m, n, a)
    }

    #[test]
    fn conv_adjoint_identity_holds_with_strides_and_odd_sizes() {
        let d = device();
        for (k, s, p, hw) in [
            (3, 1, 1, 6),
            (4, 2, 1, 7),
            (4, 2, 1, 8),
            (3, 2, 0, 9),
            (5, 3, 2, 10),
        ] {
            let layer = LipConv2d::new(2, 3, k, s, p, [hw, hw], Init::Glorot, &d);
            let x = Tensor::<4>::random([1, 2, hw, hw], Distribution::Normal(0.0, 1.0), &d);
            let ax = layer.apply(x.clone(), layer.weight());
            let y = Tensor::<4>::random(ax.dims(), Distribution::Normal(0.0, 1.0), &d);
            let aty = layer.adjoint(y.clone(), layer.weight(), [hw, hw]);
            assert_eq!(aty.dims(), [1, 2, hw, hw], "adjoint restores the input shape");
            let lhs = (ax * y).sum().into_scalar::<f64>();
            let rhs = (x * aty).sum().into_scalar::<f64>();
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "k{k} s{s} p{p} hw{hw}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn converged_power_iteration_matches_exact_spectral_norm() {
        let d = device();
        for (k, s, p, hw) in [(3, 1, 1, 6), (4, 2, 1, 7), (4, 2, 1, 8)] {
            for init in [Init::Glorot, Init::Orthogonal] {
                let layer = LipConv2d::new(2, 4, k, s, p, [hw, hw], init, &d);
                let (m, n, a) = materialise(&layer, 2, hw);
                let exact = top_singular(m, n, &a);
                let est = layer.converge(1e-5, 20_000).unwrap();
                let upper = layer.certified_bound();
                assert!(
                    (est - exact).abs() < 1e-3 * exact,
                    "conv k{k} s{s}: power {est} vs SVD {exact}"
                );
                assert!(
                    upper >= exact * (1.0 - 1e-6) && upper < exact * (1.0 + 1e-3),
                    "certified {upper} vs {exact}"
                );
            }
        }
        for (i, o) in [(20, 7), (7, 20), (64, 64)] {
            let layer = LipDense::new(i, o, Init::Glorot, &d);
            let w = vec(layer.linear.weight.val());
            let exact = top_singular(i, o, &w);
            let est = layer.converge(1e-5, 20_000).unwrap();
            assert!(
                (est - exact).abs() < 1e-3 * exact,
                "dense {i}x{o}: {est} vs {exact}"
            );
            assert!(layer.certified_bound() >= exact * (1.0 - 1e-6));
        }
    }

    #[test]
    fn orthogonal_init_has_unit_singular_values() {
        let d = device();
        for (r, c) in [(8, 3), (3, 8), (5, 5)] {
            let w = vec(orthogonal(r, c, &d));
            let sv = nalgebra::DMatrix::from_row_slice(r, c, &w)
                .svd(false, false)
                .singular_values;
            assert!(sv.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sv:?}");
        }
    }

    #[test]
    fn gradient_flows_only_through_the_final_norm() {
        let d = Device::flex().autodiff();
        let layer = LipDense::new(6, 4, Init::Glorot, &d);
        layer.advance(50);
        let b = layer.bound();
        let grads = b.backward();
        let g = layer.linear.weight.val().grad(&grads).expect("weight gradient");
        // d‖vW‖/dW = vᵀ(vW)/‖vW‖ for the stored unit v: a rank-one matrix
        let v = layer.iterate.value_sync();
        let w = layer.linear.weight.val().detach().inner();
        let vw = v.clone().inner().matmul(w);
        let expected =
            v.inner().transpose().matmul(vw.clone()) / vw.powf_scalar(2.0).sum().sqrt().reshape([1, 1]);
        let (g, e) = (vec(g), vec(expected));
        for (a, b) in g.iter().zip(e) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    /// Builds a dense layer `d_in → d_out` with the given leading singular values (the rest
    /// 0.5) and returns it with its left singular vectors (the iterate space) as rows.
    fn dense_with_spectrum(d_in: usize, d_out: usize, top: &[f64]) -> (LipDense, Vec<Vec<f64>>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut rand_q = |n: usize| {
            nalgebra::DMatrix::<f64>::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0))
                .qr()
                .q()
        };
        let (u, v) = (rand_q(d_in), rand_q(d_out));
        let r = d_in.min(d_out);
        let mut s = nalgebra::DMatrix::<f64>::zeros(d_in, d_out);
        for i in 0..r {
            s[(i, i)] = top.get(i).copied().unwrap_or(0.5);
        }
        let w = &u * s * v.transpose(); // [d_in, d_out], Burn's layout
        let d = device();
        let mut layer = LipDense::new(d_in, d_out, Init::Glorot, &d);
        let flat: Vec<f32> = (0..d_in)
            .flat_map(|i| (0..d_out).map(move |j| (i, j)))
            .map(|(i, j)| w[(i, j)] as f32)
            .collect();
        layer.linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(flat, [d_in, d_out]), &d));
        let rows = (0..r).map(|k| u.column(k).iter().copied().collect()).collect();
        (layer, rows)
    }

    #[test]
    fn warm_start_on_the_second_singular_vector_defeats_the_old_bound_not_the_sound_one() {
        let (layer, u) = dense_with_spectrum(20, 12, &[1.0, 0.99]);
        // iterate ≈ u₂ with a 10⁻³ component along u₁: a persistent iterate can sit there
        let v: Vec<f32> = (0..20).map(|t| (u[1][t] + 1e-3 * u[0][t]) as f32).collect();
        let d = device();
        layer
            .iterate
            .update(unit(Tensor::<2>::from_data(TensorData::new(v, [1, 20]), &d)));
        let (lambda, residual) = layer.rayleigh_residual();
        assert!(
            residual <= 1e-4 * lambda,
            "the residual test passes: r {residual} λ {lambda}"
        );
        let old = layer.certified_bound();
        assert!(
            old < 0.995,
            "√(λ + r) = {old} falls below the true norm 1: the hole"
        );
        let sound = crate::bounds::gram::spectral_norm_upper(&crate::bounds::dense_matrix(&layer)).unwrap();
        let exact = top_singular(20, 12, &vec(layer.linear.weight.val()));
        assert!((exact - 1.0).abs() < 1e-6, "{exact}");
        assert!(
            sound.upper >= exact && sound.upper < exact * (1.0 + 1e-6),
            "sound {} vs {exact}",
            sound.upper
        );
    }

    #[test]
    fn sound_conv_bounds_cover_burns_materialised_operator() {
        let d = device();
        // strides 1–3, paddings 0–2, odd and even sizes, channel counts beyond toys
        for (ci, co, k, s, p, hw) in [
            (8, 16, 3, 1, 1, 9),
            (6, 12, 4, 2, 1, 10),
            (5, 8, 5, 3, 2, 11),
            (4, 10, 3, 2, 0, 8),
            (3, 7, 4, 1, 2, 7),
        ] {
            let layer = LipConv2d::new(ci, co, k, s, p, [hw, hw], Init::Glorot, &d);
            // independent materialisation through Burn's conv on basis vectors
            let (m, n, a) = materialise(&layer, ci, hw);
            let exact = top_singular(m, n, &a);
            let op = crate::bounds::conv_operator(&layer);
            let e = op.exact_bound().unwrap();
            let f = op.fourier_bound().unwrap();
            assert!(
                e.upper >= exact && e.upper <= exact * (1.0 + 1e-6),
                "k{k} s{s} p{p}: exact bound {} vs {exact}",
                e.upper
            );
            assert!(
                f.upper >= exact,
                "k{k} s{s} p{p}: Fourier bound {} < {exact}",
                f.upper
            );
            assert!(
                f.upper <= exact * 1.5,
                "k{k} s{s} p{p}: Fourier bound {} far above {exact}",
                f.upper
            );
        }
    }
}
