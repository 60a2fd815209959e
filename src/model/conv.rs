//! [`conv3x3`]: the 3x3 convolution with padding 1 (PyTorch `nn.Conv2d(i, o, 3, 1, 1)`) that
//! the head, every stage, the CAB and the tails use.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Device;

/// A 3x3 convolution with bias, stride 1 and padding 1 on every side: the spatial size is
/// kept.
///
/// # Shapes (of its forward)
///
/// - x: `[B, channels_in, H, W]`
/// - output: `[B, channels_out, H, W]`
pub fn conv3x3(channels_in: usize, channels_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([channels_in, channels_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}
