//! [`WindowAttention`]: (shifted) square-window self-attention, plus the window partition
//! helpers shared with the stripe branch.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::affine_transform::{AffineTransform, AffineTransformConfig};
use super::kernels;
use super::tables::WindowTables;
use crate::Size;

/// Splits a feature map into non-overlapping `window` tiles, tiles row-major within each
/// image, tokens row-major within each tile (reference `window_partition`, flattened).
///
/// # Shapes
///
/// - x: `[B, H, W, C]`
/// - output: `[B * (H / w0) * (W / w1), w0 * w1, C]`
pub fn window_partition(x: Tensor<4>, window: [usize; 2]) -> Tensor<3> {
    let [b, h, w, c] = x.dims();
    let [wh, ww] = window;
    x.reshape([b, h / wh, wh, w / ww, ww, c]).permute([0, 1, 3, 2, 4, 5]).reshape([b * (h / wh) * (w / ww), wh * ww, c])
}

/// Inverse of [`window_partition`] (reference `window_reverse`).
///
/// # Shapes
///
/// - windows: `[B * (H / w0) * (W / w1), w0 * w1, C]`
/// - size: `H x W`
/// - output: `[B, H, W, C]`
pub fn window_reverse(windows: Tensor<3>, window: [usize; 2], size: Size) -> Tensor<4> {
    let [n, _, c] = windows.dims();
    let [wh, ww] = window;
    let Size { height: h, width: w } = size;
    let b = n / ((h / wh) * (w / ww));
    windows.reshape([b, h / wh, w / ww, wh, ww, c]).permute([0, 1, 3, 2, 4, 5]).reshape([b, h, w, c])
}

/// Splits packed `q, k, v` channels, laid out `(3, heads, head_dim)`, into per-head tensors.
///
/// # Shapes
///
/// - qkv: `[B', N, 3 * heads * d]`
/// - output: three `[B', heads, N, d]`
pub fn split_qkv(qkv: Tensor<3>, heads: usize) -> [Tensor<4>; 3] {
    let [b, n, c3] = qkv.dims();
    let d = c3 / (3 * heads);
    let qkv = qkv.reshape([b, n, 3, heads * d]);
    [0, 1, 2].map(|i| split_heads(qkv.clone().slice_dim(2, i..i + 1).reshape([b, n, heads * d]), heads))
}

/// Splits channels, laid out `(heads, head_dim)`, into heads.
///
/// # Shapes
///
/// - x: `[B', N, heads * d]`
/// - output: `[B', heads, N, d]`
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, n, c] = x.dims();
    x.reshape([b, n, heads, c / heads]).swap_dims(1, 2)
}

/// Inverse of [`split_heads`].
///
/// # Shapes
///
/// - x: `[B', heads, N, d]`
/// - output: `[B', N, heads * d]`
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, n, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, n, h * d])
}

/// Cyclically shifts the spatial axes of a `[B, H, W, C]` map like `torch.roll`.
pub fn roll_spatial(x: Tensor<4>, shift: [i64; 2]) -> Tensor<4> {
    if shift == [0, 0] { x } else { x.roll(&shift, &[1, 2]) }
}

/// Configuration of a [`WindowAttention`].
#[derive(Config, Debug)]
pub struct WindowAttentionConfig {
    /// Attention heads.
    pub num_heads: usize,
    /// Whether windows are cyclically shifted by half a window (reference `window_shift`,
    /// even blocks). Default: false.
    #[config(default = false)]
    pub shift: bool,
}

/// Self-attention inside square windows of the padded feature map, optionally shifted by
/// half a window (with the shift mask), on the first half of the packed QKV channels.
#[derive(Module, Debug)]
pub struct WindowAttention {
    /// Logit scale and relative-position bias.
    pub attn_transform: AffineTransform,
    /// Attention heads.
    pub num_heads: usize,
    /// Whether the windows are shifted.
    pub shift: bool,
}

impl WindowAttentionConfig {
    /// Initializes a [`WindowAttention`].
    pub fn init(&self, device: &Device) -> WindowAttention {
        WindowAttention {
            attn_transform: AffineTransformConfig::new(self.num_heads).init(device),
            num_heads: self.num_heads,
            shift: self.shift,
        }
    }
}

impl WindowAttention {
    /// Attends within windows: on the WGSL kernel where it applies
    /// ([`WindowAttention::forward_gpu`]), else (below) on Burn's ops and
    /// [`AffineTransform::forward`].
    ///
    /// # Shapes
    ///
    /// - qkv: `[B, H * W, 3 * c]` (packed `(3, heads, head_dim)`)
    /// - size: `H x W`, multiples of the window size
    /// - output: `[B, H * W, c]`
    pub fn forward(&self, qkv: Tensor<3>, size: Size, tables: &WindowTables) -> Tensor<3> {
        if kernels::fused_gpu(&qkv.device())
            && let Some(out) = self.forward_gpu(&qkv, size, tables)
        {
            return out;
        }
        let [b, l, c3] = qkv.dims();
        let ws = tables.window_size;
        let shift = if self.shift { tables.shift_size as i64 } else { 0 };
        let x = roll_spatial(qkv.reshape([b, size.height, size.width, c3]), [-shift, -shift]);
        let [q, k, v] = split_qkv(window_partition(x, [ws, ws]), self.num_heads);
        let mask = self.shift.then_some(&tables.mask);
        let out = self.attn_transform.forward(q, k, v, self.attn_transform.cached_bias_per_entry(&tables.table), &tables.index, mask);
        let x = window_reverse(merge_heads(out), [ws, ws], size);
        roll_spatial(x, [shift, shift]).reshape([b, l, c3 / 3])
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::config::GrlConfig;
    use crate::model::tables::TableIndexMask;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn partition_layout_and_round_trip() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new((0..32).map(|i| i as f32).collect::<Vec<_>>(), [1, 4, 8, 1]),
            &device,
        );
        let windows = window_partition(x.clone(), [2, 4]);
        assert_eq!(windows.dims(), [4, 8, 1]);
        let w = windows.clone().into_data().try_to_vec::<f32>().unwrap();
        // Window 1 is rows 0-1, columns 4-7.
        assert_eq!(&w[8..16], &[4.0, 5.0, 6.0, 7.0, 12.0, 13.0, 14.0, 15.0]);
        let back = window_reverse(windows, [2, 4], Size { height: 4, width: 8 });
        assert_eq!(back.into_data(), x.into_data());
    }

    #[test]
    fn roll_matches_torch() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new((0..4).map(|i| i as f32).collect::<Vec<_>>(), [1, 1, 4, 1]),
            &device,
        );
        // torch.roll([0, 1, 2, 3], -1) == [1, 2, 3, 0]
        let rolled = roll_spatial(x, [0, -1]).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(rolled, vec![1.0, 2.0, 3.0, 0.0]);
    }

    #[test]
    fn qkv_split_uses_the_3_heads_dim_layout() {
        let device = Device::flex();
        // 2 heads of 2 channels: channel = which * 4 + head * 2 + d.
        let qkv =
            Tensor::<3>::from_data(TensorData::new((0..12).map(|i| i as f32).collect::<Vec<_>>(), [1, 1, 12]), &device);
        let [q, k, v] = split_qkv(qkv, 2);
        assert_eq!(q.dims(), [1, 2, 1, 2]);
        assert_eq!(k.into_data().try_to_vec::<f32>().unwrap(), vec![4.0, 5.0, 6.0, 7.0]);
        assert_eq!(v.into_data().try_to_vec::<f32>().unwrap(), vec![8.0, 9.0, 10.0, 11.0]);
        assert_eq!(merge_heads(q).into_data().try_to_vec::<f32>().unwrap(), vec![0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn shifted_and_plain_forward_shapes() {
        let device = Device::flex();
        let config = GrlConfig { window_size: 4, stripe_size: [Some(4), Some(4)], ..GrlConfig::default() };
        let size = Size { height: 8, width: 12 };
        let tables = TableIndexMask::new(&config, size, &device);
        let qkv = Tensor::<3>::random([2, 96, 24], Distribution::Normal(0.0, 1.0), &device);
        for shift in [false, true] {
            let attn = WindowAttentionConfig::new(2).with_shift(shift).init(&device);
            let out = attn.forward(qkv.clone(), size, &tables.window);
            assert_eq!(out.dims(), [2, 96, 8]);
            assert!(out.is_finite().all().into_scalar::<bool>());
        }
    }

    /// Plain and shifted windows against values computed from GRL.md's equations.
    #[test]
    fn forward_matches_the_fixture() {
        use crate::model::attention_fixture as fixture;
        let device = Device::flex();
        let (_, tables) = crate::model::tables::small_test_tables(&device);
        for (shift, name) in [(false, "window"), (true, "window_shifted")] {
            let attn_transform = fixture::transform(10, &device);
            let attn = WindowAttention { attn_transform, num_heads: fixture::HEADS, shift };
            fixture::assert_matches(attn.forward(fixture::qkv(&device), fixture::SIZE, &tables.window), name);
        }
    }
}
