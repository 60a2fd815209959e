//! The arithmetic cost of one GRL forward, from its configuration alone: what `grl bench`
//! divides by the time to give GFLOP/s.
//!
//! Counted as the reference's figures are (`../shared/docs/GRL.md`, "Costs"): the FLOPs of
//! every matrix product and convolution, two per multiply-add, on the input padded to the pad
//! size; element-wise work (norms, softmax, GELU, bias and mask adds) is not counted. The
//! relative-position MLP (`cpb_mlp`) is counted once per block and attention transform, as the
//! reference runs it on every forward (this implementation runs it once per tile shape and
//! keeps the result, so it does less work than counted).

use super::config::GrlConfig;
use super::settings::Upsampler;
use super::tables::stripe_geometry;
use crate::Size;

/// Hidden width of the relative-position MLP (`Linear(2, 512) + ReLU + Linear(512, heads)`).
const CPB_HIDDEN: u64 = 512;
/// Channels of the `pixelshuffle` and `nearest+conv` tails.
const TAIL_FEATURES: u64 = 64;

/// FLOPs of a `k x k` convolution from `cin` to `cout` channels over `pixels` output pixels.
fn conv(k: u64, cin: u64, cout: u64, pixels: u64) -> u64 {
    2 * pixels * k * k * cin * cout
}

/// FLOPs of a linear layer from `inputs` to `outputs` features over `tokens` tokens.
fn linear(tokens: u64, inputs: u64, outputs: u64) -> u64 {
    2 * tokens * inputs * outputs
}

/// FLOPs of the relative-position MLP over a coordinate table of `entries` entries.
fn cpb_mlp(entries: u64, heads: u64) -> u64 {
    linear(entries, 2, CPB_HIDDEN) + linear(entries, CPB_HIDDEN, heads)
}

impl GrlConfig {
    /// FLOPs (two per multiply-add) of one forward of an `input`-sized image, counted as the
    /// module documentation says.
    pub fn flops(&self, input: Size) -> u64 {
        let padded = self.padded_size(input);
        let tokens = padded.area() as u64;
        let c = self.embed_dim as u64;
        let head = conv(3, self.in_channels as u64, c, tokens);
        let body: u64 = (0..self.depths.len())
            .map(|stage| self.depths[stage] as u64 * self.block_flops(stage, padded) + conv(3, c, c, tokens))
            .sum();
        head + body + conv(3, c, c, tokens) + self.tail_flops(tokens)
    }

    /// One block of `stage` on a `padded` input.
    fn block_flops(&self, stage: usize, padded: Size) -> u64 {
        let tokens = padded.area() as u64;
        let c = self.embed_dim as u64;
        let half = c / 2;
        let df2 = (self.anchor_window_down_factor * self.anchor_window_down_factor) as u64;
        let ws = self.window_size as u64;
        let stripe = stripe_geometry(self.stripe_size, self.stripe_groups, padded).size;
        let stripe_area = (stripe[0] * stripe[1]) as u64;
        let anchors_per_stripe = stripe_area / df2;
        let (heads_w, heads_s) = (self.num_heads_window[stage] as u64, self.num_heads_stripe[stage] as u64);

        let projections = linear(tokens, c, 3 * c) + linear(tokens / df2, c, half) + linear(tokens, c, c);
        // Window: q kᵀ and attn v, each ws² products of C/2 channels per token.
        let window = 2 * 2 * tokens * ws * ws * half;
        // Stripes: anchors attend to the stripe (Z), the stripe to the anchors (Y): four
        // products of (anchors x stripe tokens x C/2) per stripe.
        let stripes = 4 * 2 * (tokens / stripe_area.max(1)) * anchors_per_stripe * stripe_area * half;
        let window_table = (2 * ws - 1) * (2 * ws - 1);
        let a = [stripe[0] as u64 / self.anchor_window_down_factor as u64, stripe[1] as u64 / self.anchor_window_down_factor as u64];
        let stripe_table = (stripe[0] as u64 + a[0] - 1) * (stripe[1] as u64 + a[1] - 1);
        let tables = cpb_mlp(window_table, heads_w) + 2 * cpb_mlp(stripe_table, heads_s);
        let hidden = self.mlp_hidden_dim() as u64;
        let mlp = linear(tokens, c, hidden) + linear(tokens, hidden, c);
        let cab = if self.local_connection {
            conv(3, c, c / 4, tokens) + conv(3, c / 4, c, tokens) + 2 * linear(1, c, c / 18)
        } else {
            0
        };
        projections + window + stripes + tables + mlp + cab
    }

    /// The reconstruction tail on `tokens` pixels of features.
    fn tail_flops(&self, tokens: u64) -> u64 {
        let (c, out, scale) = (self.embed_dim as u64, self.out_channels() as u64, self.upscale as u64);
        let f = TAIL_FEATURES;
        match self.upsampler {
            Upsampler::PixelShuffle => {
                let mut flops = conv(3, c, f, tokens);
                let mut pixels = tokens;
                if scale == 3 {
                    flops += conv(3, f, 9 * f, pixels);
                    pixels *= 9;
                } else {
                    for _ in 0..scale.trailing_zeros() {
                        flops += conv(3, f, 4 * f, pixels);
                        pixels *= 4;
                    }
                }
                flops + conv(3, f, out, pixels)
            }
            Upsampler::PixelShuffleDirect => conv(3, c, scale * scale * out, tokens),
            Upsampler::NearestConv => {
                conv(3, c, f, tokens) + conv(3, f, f, 4 * tokens) + 2 * conv(3, f, f, 16 * tokens) + conv(3, f, out, 16 * tokens)
            }
            Upsampler::Residual => conv(3, c, out, tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within 3% of a figure given to the nearest GFLOP.
    fn close(flops: u64, giga: f64) -> bool {
        (flops as f64 / 1e9 - giga).abs() <= 0.03 * giga
    }

    #[test]
    fn matches_the_reference_totals() {
        // GRL.md: SR x4 on 64x64 / 256x256 inputs: T 20 G / 304 G; S 57 G / 896 G; B 346 G / 5468 G.
        for (name, small, large) in
            [("sr_grl_tiny_c3x4", 20.0, 304.0), ("sr_grl_small_c3x4", 57.0, 896.0), ("sr_grl_base_c3x4", 346.0, 5468.0)]
        {
            let config = GrlConfig::preset(name).unwrap();
            let (a, b) = (config.flops(Size::square(64)), config.flops(Size::square(256)));
            assert!(close(a, small), "{name} 64x64: {:.1} G, reference {small} G", a as f64 / 1e9);
            assert!(close(b, large), "{name} 256x256: {:.1} G, reference {large} G", b as f64 / 1e9);
        }
    }

    #[test]
    fn counts_the_padded_input() {
        let config = GrlConfig::preset("sr_grl_tiny_c3x4").unwrap();
        assert_eq!(config.flops(Size { height: 50, width: 33 }), config.flops(Size::square(64)));
        assert!(config.flops(Size { height: 65, width: 64 }) > config.flops(Size::square(64)));
    }
}
