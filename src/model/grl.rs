//! [`Grl`]: the whole network (reference `GRL` in `models/networks/grl.py`).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor, TensorData};

use super::block::BlockConfig;
use super::config::GrlConfig;
use super::conv::conv3x3;
use super::cpu_conv::conv2d;
use super::intermediates::{Intermediates, Probe, child, record_map, record_tokens};
use super::memory::{AttentionPath, GrlMemory};
use super::mixed_attention::MixedAttentionConfig;
use super::settings::Upsampler;
use super::stage::{TransformerStage, TransformerStageConfig};
use super::tables::TableIndexMask;
use super::upsample::{Upsample, UpsampleConfig};
use crate::Size;

/// Channels of the reconstruction tail of `pixelshuffle` and `nearest+conv`.
pub const NUM_OUT_FEATS: usize = 64;

/// GRL: a 3x3 head, residual groups of mixed window / anchored-stripe attention blocks, and a
/// reconstruction tail. Field names follow the reference state-dict keys.
///
/// The tail is six optional fields, the ones [`GrlConfig::upsampler`] needs being built,
/// rather than one enum of tail modules: Burn's `Module` derive names a parameter by its path
/// of field names, so a `tail` field (an enum, or a struct per tail) would put `tail.` (and,
/// for an enum, the variant's name unless the store skips it) in front of every tail key
/// (`conv_last.weight` would become `tail.Residual.conv_last.weight`): the web-format files
/// and the PyTorch key remapping would have to undo it, and earlier training checkpoints
/// would no longer load.
#[derive(Module, Debug)]
pub struct Grl {
    /// Conv 3x3, in -> C.
    pub conv_first: Conv2d,
    /// LayerNorm on the tokens entering the body.
    pub norm_start: LayerNorm,
    /// The stages (residual groups).
    pub layers: Vec<TransformerStage>,
    /// LayerNorm on the tokens leaving the body.
    pub norm_end: LayerNorm,
    /// Conv 3x3, C -> C, before the long skip.
    pub conv_after_body: Conv2d,
    /// Conv 3x3 C -> 64 (reference `conv_before_upsample.0`; `pixelshuffle`, `nearest+conv`).
    pub conv_before_upsample: Option<Conv2d>,
    /// Pixel-shuffle upsampler (`pixelshuffle`, `pixelshuffledirect`).
    pub upsample: Option<Upsample>,
    /// Conv 3x3 64 -> 64 after the first nearest x2 (`nearest+conv`).
    pub conv_up1: Option<Conv2d>,
    /// Conv 3x3 64 -> 64 after the second nearest x2 (`nearest+conv`).
    pub conv_up2: Option<Conv2d>,
    /// Conv 3x3 64 -> 64 at high resolution (`nearest+conv`).
    pub conv_hr: Option<Conv2d>,
    /// Last conv to the output channels (all tails but `pixelshuffledirect`).
    pub conv_last: Option<Conv2d>,
    /// The hyper-parameters (not a weight).
    #[module(skip)]
    pub config: GrlConfig,
}

impl GrlConfig {
    /// Initializes a [`Grl`] with random weights.
    ///
    /// # Panics
    ///
    /// If the configuration is invalid; call [`GrlConfig::validate`] first to get the error.
    pub fn init(&self, device: &Device) -> Grl {
        if let Err(e) = self.validate() {
            panic!("invalid GRL configuration: {e}");
        }
        let c = self.embed_dim;
        let out = self.out_channels();
        let layers = (0..self.depths.len())
            .map(|i| {
                let attn = MixedAttentionConfig::new(
                    c,
                    self.num_heads_window[i],
                    self.num_heads_stripe[i],
                    self.anchor_window_down_factor,
                )
                .with_qkv_bias(self.qkv_bias)
                .with_anchor_pooling(self.anchor_proj_type);
                let block = BlockConfig::new(attn, self.mlp_hidden_dim())
                    .with_local_connection(self.local_connection)
                    .with_res_scale(self.init_method.res_scale());
                TransformerStageConfig::new(self.depths[i], block).with_stripe_shift(self.stripe_shift).init(device)
            })
            .collect();
        let conv = |i, o| Some(conv3x3(i, o, device));
        let mut model = Grl {
            conv_first: conv3x3(self.in_channels, c, device),
            norm_start: LayerNormConfig::new(c).init(device),
            layers,
            norm_end: LayerNormConfig::new(c).init(device),
            conv_after_body: conv3x3(c, c, device),
            conv_before_upsample: None,
            upsample: None,
            conv_up1: None,
            conv_up2: None,
            conv_hr: None,
            conv_last: None,
            config: self.clone(),
        };
        match self.upsampler {
            Upsampler::PixelShuffle => {
                model.conv_before_upsample = conv(c, NUM_OUT_FEATS);
                model.upsample = Some(UpsampleConfig::new(self.upscale, NUM_OUT_FEATS, NUM_OUT_FEATS).init(device));
                model.conv_last = conv(NUM_OUT_FEATS, out);
            }
            Upsampler::PixelShuffleDirect => {
                model.upsample = Some(UpsampleConfig::new(self.upscale, c, out).with_one_step(true).init(device));
            }
            Upsampler::NearestConv => {
                model.conv_before_upsample = conv(c, NUM_OUT_FEATS);
                model.conv_up1 = conv(NUM_OUT_FEATS, NUM_OUT_FEATS);
                model.conv_up2 = conv(NUM_OUT_FEATS, NUM_OUT_FEATS);
                model.conv_hr = conv(NUM_OUT_FEATS, NUM_OUT_FEATS);
                model.conv_last = conv(NUM_OUT_FEATS, out);
            }
            Upsampler::Residual => model.conv_last = conv(c, out),
        }
        model
    }
}

/// Pads bottom and right to multiples of `pad` like the reference's `check_image_size`:
/// reflect padding, or zero padding when reflection is impossible (a pad not smaller than
/// its side).
///
/// # Shapes
///
/// - x: `[B, C, H, W]`
/// - output: `[B, C, H', W']` with `H'`, `W'` the next multiples of `pad`
pub fn pad_to_multiple(x: Tensor<4>, pad: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (ph, pw) = ((pad - h % pad) % pad, (pad - w % pad) % pad);
    if ph == 0 && pw == 0 {
        return x;
    }
    let mode = if ph < h && pw < w { PadMode::Reflect } else { PadMode::Constant(0.0) };
    x.pad([(0, ph), (0, pw)], mode)
}

impl Grl {
    /// This model's body (everything up to the long skip) with the tail (the upsampler and
    /// the convolutions after the body's skip) and configuration of `tail`: an x4 upscaler
    /// started from a trained x2 one, whose body already knows the images (the bodies must
    /// have one architecture; [`GrlConfig::same_body`] says whether they do).
    pub fn with_tail_of(self, tail: Grl) -> Grl {
        Grl {
            conv_before_upsample: tail.conv_before_upsample,
            upsample: tail.upsample,
            conv_up1: tail.conv_up1,
            conv_up2: tail.conv_up2,
            conv_hr: tail.conv_hr,
            conv_last: tail.conv_last,
            config: tail.config,
            ..self
        }
    }

    /// This model with the stages of `grown` past its own appended, each starting as the
    /// identity: a stage is `x + conv(blocks(x))`, and its closing convolution starts at zero.
    /// A deeper model then begins where this trained one ends, and its new blocks learn from
    /// there. `grown`'s configuration must extend this one's ([`GrlConfig::extends_body`]).
    pub fn with_stages_of(mut self, grown: Grl) -> Grl {
        let new = grown.layers.into_iter().skip(self.layers.len()).map(|mut stage| {
            stage.conv.weight = stage.conv.weight.map(|w| w.zeros_like());
            stage.conv.bias = stage.conv.bias.map(|b| b.map(|b| b.zeros_like()));
            stage
        });
        self.layers.extend(new);
        Grl { config: grown.config, ..self }
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.conv_first.weight.device()
    }

    /// Its forwards' memory, on the attention path they take on its device (for tiles).
    pub fn memory(&self) -> GrlMemory<'_> {
        self.config.memory(AttentionPath::of(&self.config, &self.device()))
    }

    /// Builds the tables, indices and masks for an input of `size` (they depend only on its
    /// padded size); reuse them across calls of [`Grl::forward_with_tables`].
    pub fn tables(&self, size: Size, device: &Device) -> TableIndexMask {
        TableIndexMask::new(&self.config, self.config.padded_size(size), device)
    }

    /// Restores an image batch; values are in [0, 1].
    ///
    /// # Shapes
    ///
    /// - x: `[B, in_channels, H, W]`
    /// - output: `[B, out_channels, H * upscale, W * upscale]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let tables = self.tables(Size { height: h, width: w }, &x.device());
        self.forward_impl(x, &tables, None)
    }

    /// [`Grl::forward`] with prebuilt tables (from [`Grl::tables`] for an input of the same
    /// padded size).
    pub fn forward_with_tables(&self, x: Tensor<4>, tables: &TableIndexMask) -> Tensor<4> {
        self.forward_impl(x, tables, None)
    }

    /// [`Grl::forward`] that also returns the intermediates named as in the reference fixtures
    /// (`conv_first`, `norm_start`, `layers.i.blocks.j[.attn[.anchor]|.conv|.mlp]`,
    /// `layers.i`, `norm_end`, `conv_after_body`).
    pub fn forward_with_intermediates(&self, x: Tensor<4>) -> (Tensor<4>, Intermediates) {
        let [_, _, h, w] = x.dims();
        let tables = self.tables(Size { height: h, width: w }, &x.device());
        let mut intermediates = Intermediates::default();
        let out = self.forward_impl(x, &tables, Some(Probe::new(&mut intermediates)));
        (out, intermediates)
    }

    fn forward_impl(&self, x: Tensor<4>, tables: &TableIndexMask, mut probe: Option<Probe<'_>>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let device = x.device();
        let config = &self.config;
        let x = pad_to_multiple(x, config.pad_size());
        let [_, _, hp, wp] = x.dims();
        let padded = Size { height: hp, width: wp };
        assert_eq!(tables.input_size, padded, "tables built for {}, input padded to {padded}", tables.input_size);
        let mean = Tensor::<4>::from_data(TensorData::new(config.mean(), [1, config.in_channels, 1, 1]), &device);
        let x = (x - mean.clone()) * config.img_range;

        let first = conv2d(&self.conv_first, x.clone());
        record_map(&mut probe, "conv_first", &first);
        let body = self.forward_features(first, tables, &mut probe);
        let body = conv2d(&self.conv_after_body, body);
        record_map(&mut probe, "conv_after_body", &body);
        // The long skip computes the first convolution again (`in_channels` -> C, a sliver of
        // the forward's work) rather than holding its `[B, C, H, W]` map through the body: one
        // feature map less at every moment of the body, where the peak memory is.
        let features = body + conv2d(&self.conv_first, x.clone());

        let out = self.tail(features, x);
        let out = out / config.img_range;
        let out = if config.in_channels == 3 { out + mean } else { out };
        let scale = config.upscale;
        out.slice_dim(2, 0..h * scale).slice_dim(3, 0..w * scale)
    }

    /// The transformer body on the head features.
    ///
    /// # Shapes
    ///
    /// - x: `[B, C, H, W]` (padded)
    /// - output: `[B, C, H, W]`
    fn forward_features(&self, x: Tensor<4>, tables: &TableIndexMask, probe: &mut Option<Probe<'_>>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let size = Size { height: h, width: w };
        let mut tokens = self.norm_start.forward(x.reshape([b, c, h * w]).swap_dims(1, 2));
        record_tokens(probe, "norm_start", &tokens);
        for (i, layer) in self.layers.iter().enumerate() {
            let name = probe.as_ref().map(|_| format!("layers.{i}"));
            let name = name.as_deref().unwrap_or("");
            tokens = layer.forward(tokens, size, tables, child(probe, name));
            record_tokens(probe, name, &tokens);
        }
        let tokens = self.norm_end.forward(tokens);
        record_tokens(probe, "norm_end", &tokens);
        tokens.swap_dims(1, 2).reshape([b, c, h, w])
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// A small valid configuration (C = 16, one stage of two blocks, pad size 8).
    pub(crate) fn tiny(upsampler: Upsampler, upscale: usize, in_channels: usize) -> GrlConfig {
        GrlConfig {
            in_channels,
            embed_dim: 16,
            upscale,
            upsampler,
            depths: vec![2],
            num_heads_window: vec![2],
            num_heads_stripe: vec![2],
            window_size: 4,
            stripe_size: [Some(4), Some(8)],
            stripe_shift: true,
            mlp_ratio: 1.5,
            anchor_window_down_factor: 2,
            ..GrlConfig::default()
        }
    }

    #[test]
    fn reflect_padding_and_zero_fallback() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 1, 1, 3]), &device);
        // Height 1 cannot reflect a pad of 3: zeros on both axes, like the reference.
        let y = pad_to_multiple(x.clone(), 4).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&y[..4], &[1.0, 2.0, 3.0, 0.0]);
        assert!(y[4..].iter().all(|&v| v == 0.0));
        let x = Tensor::<4>::from_data(
            TensorData::new((0..6).map(|i| i as f32).collect::<Vec<_>>(), [1, 1, 2, 3]),
            &device,
        );
        let y = pad_to_multiple(x, 2).into_data().try_to_vec::<f32>().unwrap();
        // Width 3 -> 4 reflects column 1.
        assert_eq!(y, vec![0.0, 1.0, 2.0, 1.0, 3.0, 4.0, 5.0, 4.0]);
    }

    #[test]
    fn every_tail_gives_the_output_shape() {
        let device = Device::flex();
        let cases = [
            (tiny(Upsampler::PixelShuffle, 2, 3), [1, 3, 22, 26]),
            (tiny(Upsampler::PixelShuffle, 3, 1), [1, 1, 33, 39]),
            (tiny(Upsampler::PixelShuffleDirect, 4, 3), [1, 3, 44, 52]),
            (tiny(Upsampler::NearestConv, 4, 3), [1, 3, 44, 52]),
            (tiny(Upsampler::Residual, 1, 1), [1, 1, 11, 13]),
        ];
        for (config, expected) in cases {
            let model = config.init(&device);
            let x = Tensor::<4>::random([1, config.in_channels, 11, 13], Distribution::Uniform(0.0, 1.0), &device);
            let y = model.forward(x);
            assert_eq!(y.dims(), expected, "{:?}", config.upsampler);
            assert!(y.is_finite().all().into_scalar::<bool>());
        }
    }

    #[test]
    fn appended_stages_start_as_the_identity() {
        let device = Device::flex();
        let small = tiny(Upsampler::Residual, 1, 3);
        let grown = GrlConfig {
            depths: vec![2, 1],
            num_heads_window: vec![2, 2],
            num_heads_stripe: vec![2, 1],
            ..small.clone()
        };
        assert!(grown.extends_body(&small));
        assert!(!small.extends_body(&grown));
        assert!(!grown.extends_body(&GrlConfig { embed_dim: 32, ..small.clone() }));
        let model = small.init(&device);
        let x = Tensor::<4>::random([1, 3, 8, 16], Distribution::Uniform(0.0, 1.0), &device);
        let before = model.forward(x.clone()).into_data();
        let deeper = model.with_stages_of(grown.init(&device));
        assert_eq!(deeper.layers.len(), 2);
        assert_eq!(deeper.config, grown);
        deeper.forward(x).into_data().assert_approx_eq::<f32>(&before, burn::tensor::Tolerance::absolute(1e-6));
    }

    #[test]
    fn six_channels_in_three_out() {
        let device = Device::flex();
        let config = GrlConfig { out_channels: Some(3), ..tiny(Upsampler::Residual, 1, 6) };
        let y = config.init(&device).forward(Tensor::zeros([1, 6, 8, 8], &device));
        assert_eq!(y.dims(), [1, 3, 8, 8]);
    }

    #[test]
    fn intermediates_are_named_like_the_reference() {
        let device = Device::flex();
        let config = GrlConfig { local_connection: true, embed_dim: 36, ..tiny(Upsampler::Residual, 1, 3) };
        let model = config.init(&device);
        let x = Tensor::<4>::random([1, 3, 8, 16], Distribution::Uniform(0.0, 1.0), &device);
        let (y, inter) = model.forward_with_intermediates(x.clone());
        let plain = model.forward(x);
        assert_eq!(y.into_data(), plain.into_data());
        for (name, dims) in [
            ("conv_first", vec![1, 36, 8, 16]),
            ("norm_start", vec![1, 128, 36]),
            ("layers.0.blocks.0.attn.anchor", vec![1, 4, 8, 18]),
            ("layers.0.blocks.0.attn", vec![1, 128, 36]),
            ("layers.0.blocks.0.conv", vec![1, 128, 36]),
            ("layers.0.blocks.0.mlp", vec![1, 128, 36]),
            ("layers.0.blocks.1", vec![1, 128, 36]),
            ("layers.0", vec![1, 128, 36]),
            ("norm_end", vec![1, 128, 36]),
            ("conv_after_body", vec![1, 36, 8, 16]),
        ] {
            assert_eq!(inter.get(name).map(|t| t.dims()), Some(dims), "{name}");
        }
    }
}
