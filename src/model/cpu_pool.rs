//! Pooling a token map by `df x df` blocks on the CPU, channels-last: the anchors' pooling
//! (reference `AnchorLinear`), read from the token map as it is.
//!
//! On Burn's ops the token map is first transposed to `[B, C, H, W]` (a copy of the whole map in
//! every block) and pooled channels-first. The plain-ops twin is that path
//! ([`super::projection::AnchorProjection::forward`]); a test compares the two.

use super::cpu_parallel::build_chunks;
use super::settings::AnchorPooling;
use crate::Size;

/// The `df x df` average or maximum of every block of a token map `[B, H * W, C]` (`H` and `W`
/// multiples of `df`): `[B, (H / df) * (W / df), C]`, row-major.
pub fn pool_tokens(x: &[f32], batch: usize, size: Size, channels: usize, df: usize, pooling: AnchorPooling) -> Vec<f32> {
    let Size { height: h, width: w } = size;
    assert!(df > 0 && h.is_multiple_of(df) && w.is_multiple_of(df), "{size} does not pool by {df}");
    assert_eq!(x.len(), batch * h * w * channels, "a token map of {batch} images of {size}, {channels} channels");
    let (ha, wa) = (h / df, w / df);
    let row_len = wa * channels;
    if row_len == 0 {
        return Vec::new();
    }
    let start = match pooling {
        AnchorPooling::Avg => 0.0,
        AnchorPooling::Max => f32::NEG_INFINITY,
    };
    build_chunks(batch * ha * row_len, row_len, &[start], |anchor_row, out| {
        let (image, ya) = (anchor_row / ha, anchor_row % ha);
        for y in ya * df..(ya + 1) * df {
            let line = &x[(image * h + y) * w * channels..][..w * channels];
            for (xa, anchor) in out.chunks_exact_mut(channels).enumerate() {
                for token in line[xa * df * channels..(xa + 1) * df * channels].chunks_exact(channels) {
                    for (a, &v) in anchor.iter_mut().zip(token) {
                        *a = match pooling {
                            AnchorPooling::Avg => *a + v,
                            AnchorPooling::Max => a.max(v),
                        };
                    }
                }
            }
        }
        if pooling == AnchorPooling::Avg {
            let scale = 1.0 / (df * df) as f32;
            out.iter_mut().for_each(|a| *a *= scale);
        }
    })
}
