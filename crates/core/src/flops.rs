//! Floating-point operations of a training step, counted from layer shapes.
//!
//! Only matrix products are counted (dense layers and convolutions, the latter as their
//! im2col products), at 2 FLOPs per multiply-add. Elementwise work (activations, biases,
//! normalisation, losses, optimiser updates) is not: it is memory-bound and small next to
//! the products. A layer whose forward pass costs `m` multiply-adds per item costs, in a
//! training step, `2m` forward, `2m` for its weight gradient and `2m` for its input gradient;
//! the first layer of a network has no input gradient (the input takes none).

/// One matrix product of a network: its multiply-adds per item in the forward pass, and
/// whether the backward pass computes its input gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    /// Multiply-adds per item (one image, one example) of the forward pass.
    pub macs: u64,
    /// Whether the backward pass propagates a gradient to the layer's input.
    pub input_grad: bool,
}

/// Multiply-adds of a dense layer `d_in → d_out` on one item.
pub fn dense_macs(d_in: usize, d_out: usize) -> u64 {
    (d_in * d_out) as u64
}

/// Output side of a convolution: `(size + pad_total − kernel) / stride + 1`.
pub fn conv_out(size: usize, kernel: usize, stride: usize, pad_total: usize) -> usize {
    (size + pad_total - kernel) / stride + 1
}

/// Multiply-adds of a (dense, ungrouped) 2-D convolution on one image:
/// `c_out · out_h · out_w · c_in · k_h · k_w`.
pub fn conv2d_macs(c_in: usize, c_out: usize, kernel: [usize; 2], out: [usize; 2]) -> u64 {
    (c_out * out[0] * out[1] * c_in * kernel[0] * kernel[1]) as u64
}

/// FLOPs per item of one forward and backward pass through `products`: `2m` forward plus `2m`
/// weight gradient per product, plus `2m` input gradient where [`Product::input_grad`] is set.
pub fn forward_backward(products: &[Product]) -> u64 {
    products
        .iter()
        .map(|p| 2 * p.macs * if p.input_grad { 3 } else { 2 })
        .sum()
}

/// The products of a feed-forward chain with the given per-item multiply-adds, in order: every
/// layer but the first takes an input gradient.
pub fn chain(macs: impl IntoIterator<Item = u64>) -> Vec<Product> {
    macs.into_iter()
        .enumerate()
        .map(|(i, macs)| Product {
            macs,
            input_grad: i > 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dense_layer_has_no_input_gradient() {
        // x [1×3] · W [3×2]: 6 multiply-adds; forward 12 FLOPs, weight gradient 12, no input
        // gradient.
        assert_eq!(forward_backward(&chain([dense_macs(3, 2)])), 24);
    }

    #[test]
    fn two_dense_layers_by_hand() {
        // 4 → 3 → 2: 12 and 6 multiply-adds. Forward 2·18 = 36, weight gradients 36, input
        // gradient of the second layer only 2·6 = 12.
        assert_eq!(forward_backward(&chain([dense_macs(4, 3), dense_macs(3, 2)])), 84);
    }

    #[test]
    fn one_convolution_by_hand_and_as_its_im2col_product() {
        // 2×5×5 input, 3 filters 3×3, stride 2, padding 1 on each side: 3×3 output.
        let out = conv_out(5, 3, 2, 2);
        assert_eq!(out, 3);
        let macs = conv2d_macs(2, 3, [3, 3], [out, out]);
        // The im2col product: [out²  × c_in·k²] · [c_in·k² × c_out].
        assert_eq!(macs, (9 * 18 * 3) as u64);
        assert_eq!(macs, 486);
        assert_eq!(conv_out(28, 4, 2, 2), 14);
        assert_eq!(conv_out(32, 3, 1, 2), 32);
    }
}
