//! [`GrlConfig`]: the network's hyper-parameters under the reference implementation's
//! constructor argument names, the released checkpoints as presets, and validation.

use serde::{Deserialize, Serialize};

/// Mean pixel value subtracted from 3-channel inputs (DIV2K RGB mean); other channel counts
/// use 0. Not a weight.
pub const RGB_MEAN: [f32; 3] = [0.4488, 0.4371, 0.4040];

/// Hyper-parameters of GRL.
///
/// Field names are the reference `GRL.__init__` argument names (`models/networks/grl.py`), so a
/// `model_kwargs` dictionary deserializes directly: absent keys take the reference defaults
/// (the [`Default`] impl), and unknown keys (`img_size`, `drop_path_rate`,
/// `fairscale_checkpoint`, `use_buffer`, ...: training-only or without effect on inference)
/// are ignored.
///
/// This type implements [`burn::config::Config`] by hand instead of deriving it: the derive
/// rejects absent fields during deserialization, and `model_kwargs` routinely leaves out
/// arguments that have defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrlConfig {
    /// Input image channels. Default: 3.
    pub in_channels: usize,
    /// Output image channels; `None` means `in_channels`. Default: None.
    pub out_channels: Option<usize>,
    /// Feature width C of the body. Default: 96.
    pub embed_dim: usize,
    /// Upscaling factor (1 for restoration tasks). Default: 2.
    pub upscale: usize,
    /// Image value range the network works in (1.0 or 255.0). Default: 1.0.
    pub img_range: f64,
    /// Reconstruction tail: `pixelshuffle`, `pixelshuffledirect`, `nearest+conv` or `""`
    /// (same resolution, global residual). Default: "".
    pub upsampler: String,
    /// Number of blocks in each stage. Default: [6, 6, 6, 6, 6, 6].
    pub depths: Vec<usize>,
    /// Heads of the window-attention branch, per stage. Default: [3, 3, 3, 3, 3, 3].
    pub num_heads_window: Vec<usize>,
    /// Heads of the anchored-stripe-attention branch, per stage. Default: [3, 3, 3, 3, 3, 3].
    pub num_heads_stripe: Vec<usize>,
    /// Side of the square attention window. Default: 8.
    pub window_size: usize,
    /// Stripe size (height, width) of the horizontal stripes; `None` on an axis whose size
    /// comes from `stripe_groups`. Default: [8, 8].
    pub stripe_size: [Option<usize>; 2],
    /// Number of stripes per axis, overriding `stripe_size` on that axis (the stripe then
    /// spans `dim / groups` pixels). Default: [None, None].
    pub stripe_groups: [Option<usize>; 2],
    /// Whether blocks 2 and 3 of every 4 shift their stripes by half a stripe. Default: false.
    pub stripe_shift: bool,
    /// Hidden width of the MLP relative to C (truncated: `int(C * mlp_ratio)`). Default: 4.0.
    pub mlp_ratio: f64,
    /// Whether the QKV projection has a bias. Default: true.
    pub qkv_bias: bool,
    /// QKV projection: only `linear` is supported. Default: "linear".
    pub qkv_proj_type: String,
    /// Anchor projection: `avgpool` (released models) or `maxpool`. Default: "avgpool".
    pub anchor_proj_type: String,
    /// Whether anchors come from one pooling step: only `true` is supported. Default: true.
    pub anchor_one_stage: bool,
    /// Downscaling factor df from the feature map to the anchors. Default: 1.
    pub anchor_window_down_factor: usize,
    /// Output projection type. The reference's efficient block always builds a linear
    /// projection whatever this says; `linear` and `conv2d` are accepted. Default: "linear".
    pub out_proj_type: String,
    /// Whether each block adds a channel-attention convolution branch (CAB, GRL-B).
    /// Default: false.
    pub local_connection: bool,
    /// Convolution closing each stage and the body: only `1conv` (3x3) is supported.
    /// Default: "1conv".
    pub conv_type: String,
    /// Weight initialisation of the reference. Only `r` changes inference: it scales every
    /// residual branch by 0.1. Default: "n".
    pub init_method: String,
    /// Euclidean-distance attention (an ablation): only `false` is supported. Default: false.
    pub euclidean_dist: bool,
    /// Window size the coordinate table is normalised by; 0 uses `window_size`. Default: [0, 0].
    pub pretrained_window_size: [usize; 2],
    /// Stripe size the stripe coordinate tables are normalised by; 0 uses the stripe size.
    /// Default: [0, 0].
    pub pretrained_stripe_size: [usize; 2],
}

impl Default for GrlConfig {
    /// The reference constructor's defaults.
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: None,
            embed_dim: 96,
            upscale: 2,
            img_range: 1.0,
            upsampler: String::new(),
            depths: vec![6; 6],
            num_heads_window: vec![3; 6],
            num_heads_stripe: vec![3; 6],
            window_size: 8,
            stripe_size: [Some(8), Some(8)],
            stripe_groups: [None, None],
            stripe_shift: false,
            mlp_ratio: 4.0,
            qkv_bias: true,
            qkv_proj_type: "linear".into(),
            anchor_proj_type: "avgpool".into(),
            anchor_one_stage: true,
            anchor_window_down_factor: 1,
            out_proj_type: "linear".into(),
            local_connection: false,
            conv_type: "1conv".into(),
            init_method: "n".into(),
            euclidean_dist: false,
            pretrained_window_size: [0, 0],
            pretrained_stripe_size: [0, 0],
        }
    }
}

impl burn::config::Config for GrlConfig {}

/// The reconstruction tail selected by [`GrlConfig::upsampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsampler {
    /// Conv + LeakyReLU, then `log2(scale)` x [conv, PixelShuffle(2)] (or one
    /// PixelShuffle(3)), then a last conv. Classical SR, GRL-S and GRL-B.
    PixelShuffle,
    /// One conv to `scale^2 * out` channels and PixelShuffle(scale). Lightweight SR, GRL-T.
    PixelShuffleDirect,
    /// Two nearest-neighbour x2 steps with convs. Real-world SR, x4 only.
    NearestConv,
    /// No upsampling: a last conv, plus the input when in and out channels match.
    Residual,
}

/// Spatial pooling that turns the feature map into anchors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnchorPooling {
    /// Average pooling with kernel and stride df (all released models).
    Avg,
    /// Max pooling with kernel and stride df.
    Max,
}

/// Names of the size families in [`GrlConfig::preset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    Tiny,
    Small,
    Base,
}

impl GrlConfig {
    /// Output channels after resolving `None` to `in_channels`.
    pub fn out_channels(&self) -> usize {
        self.out_channels.unwrap_or(self.in_channels)
    }

    /// The multiple the input is padded to (bottom and right) before the body:
    /// `max(window_size, max(stripe_size), max(stripe_groups) * df)`, `None` counting as 0.
    pub fn pad_size(&self) -> usize {
        let max_stripe = self.stripe_size.iter().map(|s| s.unwrap_or(0)).max().unwrap_or(0);
        let max_groups = self.stripe_groups.iter().map(|g| g.unwrap_or(0)).max().unwrap_or(0);
        self.window_size.max(max_stripe).max(max_groups * self.anchor_window_down_factor)
    }

    /// Hidden width of every block's MLP: `int(embed_dim * mlp_ratio)`.
    pub fn mlp_hidden_dim(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }

    /// Scale applied to every residual branch: 0.1 for `init_method == "r"`, else 1.
    pub fn res_scale(&self) -> f64 {
        if self.init_method == "r" { 0.1 } else { 1.0 }
    }

    /// Per-channel mean subtracted from the input (length `in_channels`).
    pub fn mean(&self) -> Vec<f32> {
        if self.in_channels == 3 { RGB_MEAN.to_vec() } else { vec![0.0; self.in_channels] }
    }

    /// The parsed [`Upsampler`]; an error names an unknown value.
    pub fn upsampler_kind(&self) -> Result<Upsampler, String> {
        match self.upsampler.as_str() {
            "pixelshuffle" => Ok(Upsampler::PixelShuffle),
            "pixelshuffledirect" => Ok(Upsampler::PixelShuffleDirect),
            "nearest+conv" => Ok(Upsampler::NearestConv),
            "" => Ok(Upsampler::Residual),
            other => Err(format!(
                "upsampler {other:?} is not supported: expected \"pixelshuffle\", \
                 \"pixelshuffledirect\", \"nearest+conv\" or \"\""
            )),
        }
    }

    /// The parsed [`AnchorPooling`]; an error names an unsupported value.
    pub fn anchor_pooling(&self) -> Result<AnchorPooling, String> {
        match self.anchor_proj_type.as_str() {
            "avgpool" => Ok(AnchorPooling::Avg),
            "maxpool" => Ok(AnchorPooling::Max),
            other => Err(format!(
                "anchor_proj_type {other:?} is not supported: expected \"avgpool\" or \"maxpool\" \
                 (every released model uses \"avgpool\")"
            )),
        }
    }

    /// Checks that the configuration can be built and run; the error lists every problem,
    /// each naming the value and what was expected.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        self.validate_io(&mut errors);
        self.validate_body(&mut errors);
        self.validate_geometry(&mut errors);
        self.validate_types(&mut errors);
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    fn validate_io(&self, errors: &mut Vec<String>) {
        if self.in_channels == 0 {
            errors.push("in_channels is 0: expected at least 1".into());
        }
        if self.out_channels == Some(0) {
            errors.push("out_channels is 0: expected at least 1 (or null for in_channels)".into());
        }
        if self.in_channels == 3 && self.out_channels() != 3 {
            errors.push(format!(
                "out_channels {} with in_channels 3 is not supported: the RGB mean is added back to the output, expected 3",
                self.out_channels()
            ));
        }
        if !(self.img_range > 0.0) {
            errors.push(format!("img_range {} must be positive", self.img_range));
        }
        let scale = self.upscale;
        match self.upsampler_kind() {
            Err(e) => errors.push(e),
            Ok(Upsampler::PixelShuffle) if !(scale == 3 || (scale >= 2 && scale.is_power_of_two())) => errors
                .push(format!("upscale {scale} is not supported by upsampler \"pixelshuffle\": expected 2^n or 3")),
            Ok(Upsampler::PixelShuffleDirect) if scale == 0 => {
                errors.push("upscale 0 is not supported by upsampler \"pixelshuffledirect\"".into())
            }
            Ok(Upsampler::NearestConv) if scale != 4 => {
                errors.push(format!("upscale {scale} is not supported by upsampler \"nearest+conv\": expected 4"))
            }
            Ok(Upsampler::Residual) if scale != 1 => {
                errors.push(format!("upscale {scale} is not supported by upsampler \"\" (no upsampling): expected 1"))
            }
            Ok(_) => {}
        }
    }

    fn validate_body(&self, errors: &mut Vec<String>) {
        let c = self.embed_dim;
        if c == 0 || c % 2 != 0 {
            errors.push(format!(
                "embed_dim {c} must be even and positive: each attention branch gets embed_dim / 2 channels"
            ));
        }
        if self.depths.is_empty() {
            errors.push("depths is empty: expected at least one stage".into());
        }
        for (name, heads) in
            [("num_heads_window", &self.num_heads_window), ("num_heads_stripe", &self.num_heads_stripe)]
        {
            if heads.len() != self.depths.len() {
                errors.push(format!(
                    "{name} has {} entries but depths has {}: expected one per stage",
                    heads.len(),
                    self.depths.len()
                ));
            }
            for &h in heads.iter() {
                if h == 0 || c % (2 * h) != 0 {
                    errors.push(format!(
                        "embed_dim {c} is not divisible by 2 * {name} = {}: each head needs embed_dim / (2 * heads) channels",
                        2 * h
                    ));
                }
            }
        }
        if self.mlp_hidden_dim() == 0 {
            errors.push(format!("mlp_ratio {} gives an empty MLP for embed_dim {c}", self.mlp_ratio));
        }
        if self.local_connection && (c / 4 == 0 || c / 18 == 0) {
            errors.push(format!("embed_dim {c} is too small for local_connection: the CAB needs embed_dim / 18 >= 1"));
        }
    }

    fn validate_geometry(&self, errors: &mut Vec<String>) {
        let ws = self.window_size;
        let df = self.anchor_window_down_factor;
        if ws < 2 {
            errors.push(format!("window_size {ws} must be at least 2"));
        }
        if df == 0 {
            errors.push("anchor_window_down_factor 0 must be at least 1".into());
            return;
        }
        let pad = self.pad_size();
        if ws >= 2 && pad % ws != 0 {
            errors.push(format!("window_size {ws} does not divide the pad size {pad}"));
        }
        for axis in 0..2 {
            match (self.stripe_size[axis], self.stripe_groups[axis]) {
                (_, Some(0)) => errors.push(format!("stripe_groups[{axis}] is 0: expected at least 1 or null")),
                (_, Some(g)) => {
                    if pad % (g * df) != 0 {
                        errors.push(format!(
                            "stripe_groups[{axis}] = {g} times anchor_window_down_factor {df} does not divide the pad size {pad}"
                        ));
                    }
                }
                (None, None) => errors
                    .push(format!("stripe_size[{axis}] and stripe_groups[{axis}] are both null: expected one of them")),
                (Some(s), None) => {
                    if s == 0 || s % df != 0 {
                        errors.push(format!(
                            "stripe_size[{axis}] = {s} is not a positive multiple of anchor_window_down_factor {df}"
                        ));
                    } else if pad % s != 0 {
                        errors.push(format!("stripe_size[{axis}] = {s} does not divide the pad size {pad}"));
                    }
                }
            }
        }
    }

    fn validate_types(&self, errors: &mut Vec<String>) {
        if self.qkv_proj_type != "linear" {
            errors.push(format!("qkv_proj_type {:?} is not supported: expected \"linear\"", self.qkv_proj_type));
        }
        if let Err(e) = self.anchor_pooling() {
            errors.push(e);
        }
        if !self.anchor_one_stage {
            errors.push("anchor_one_stage false is not supported: expected true".into());
        }
        if !matches!(self.out_proj_type.as_str(), "linear" | "conv2d") {
            errors.push(format!(
                "out_proj_type {:?} is not supported: expected \"linear\" (or \"conv2d\", which the reference also builds as linear)",
                self.out_proj_type
            ));
        }
        if self.conv_type != "1conv" {
            errors.push(format!("conv_type {:?} is not supported: expected \"1conv\"", self.conv_type));
        }
        if self.euclidean_dist {
            errors.push("euclidean_dist true is not supported: expected false (cosine attention)".into());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Presets: the released checkpoints (release v1.0.0 of the reference repository).
// ---------------------------------------------------------------------------------------------

/// Every name [`GrlConfig::preset`] accepts, in a stable order.
pub fn preset_names() -> Vec<String> {
    let mut names = Vec::new();
    for size in ["tiny", "small", "base"] {
        for scale in [2, 3, 4] {
            names.push(format!("sr_grl_{size}_c3x{scale}"));
        }
    }
    for size in ["tiny", "small", "base"] {
        for channels in [1, 3] {
            for sigma in [15, 25, 50] {
                names.push(format!("dn_grl_{size}_c{channels}s{sigma}"));
            }
        }
    }
    for channels in [1, 3] {
        for quality in [10, 20, 30, 40] {
            names.push(format!("jpeg_grl_small_c{channels}q{quality}"));
        }
    }
    names.push("dm_grl_small".into());
    names.push("bsr_grl_base".into());
    for dataset in ["gopro", "realblur_j", "realblur_r"] {
        names.push(format!("db_motion_grl_base_{dataset}"));
    }
    names.push("db_defocus_single_pixel_grl_base".into());
    names.push("db_defocus_dual_pixel_grl_base".into());
    names
}

impl GrlConfig {
    /// The configuration of a released checkpoint, by its file name without extension
    /// (see [`preset_names`]). Values follow the model table of the GRL documentation and
    /// the reference repository's `config/experiment` files.
    ///
    /// `db_defocus_dual_pixel_grl_base` (6 input channels: left and right views, 3 output
    /// channels) reuses the single-pixel defocus geometry (window 16, stripe [48, 96], df 4);
    /// the reference publishes no configuration for it, so this one is an assumption.
    pub fn preset(name: &str) -> Result<GrlConfig, String> {
        let unknown = || format!("unknown preset {name:?}: expected one of {}", preset_names().join(", "));
        let config = if let Some(rest) = name.strip_prefix("sr_grl_") {
            let (size, rest) = split_size(rest).ok_or_else(unknown)?;
            let scale = match rest {
                "_c3x2" => 2,
                "_c3x3" => 3,
                "_c3x4" => 4,
                _ => return Err(unknown()),
            };
            let df = if size == Size::Base { 2 } else { 4 };
            let upsampler = if size == Size::Tiny { "pixelshuffledirect" } else { "pixelshuffle" };
            sized(size, 3, scale, upsampler).geometry(32, [64, 64], df)
        } else if let Some(rest) = name.strip_prefix("dn_grl_") {
            let (size, rest) = split_size(rest).ok_or_else(unknown)?;
            let channels = match rest {
                "_c1s15" | "_c1s25" | "_c1s50" => 1,
                "_c3s15" | "_c3s25" | "_c3s50" => 3,
                _ => return Err(unknown()),
            };
            let (ws, df) = if size == Size::Base { (32, 2) } else { (16, 4) };
            sized(size, channels, 1, "").geometry(ws, [64, 128], df)
        } else if let Some(rest) = name.strip_prefix("jpeg_grl_small_c") {
            let channels = match rest {
                "1q10" | "1q20" | "1q30" | "1q40" => 1,
                "3q10" | "3q20" | "3q30" | "3q40" => 3,
                _ => return Err(unknown()),
            };
            sized(Size::Small, channels, 1, "").geometry(36, [72, 144], 4)
        } else {
            match name {
                "dm_grl_small" => sized(Size::Small, 3, 1, "").geometry(8, [32, 32], 4),
                "bsr_grl_base" => sized(Size::Base, 3, 4, "nearest+conv").geometry(16, [32, 64], 4),
                "db_motion_grl_base_gopro" | "db_motion_grl_base_realblur_j" | "db_motion_grl_base_realblur_r" => {
                    sized(Size::Base, 3, 1, "").geometry(12, [48, 96], 4)
                }
                "db_defocus_single_pixel_grl_base" => sized(Size::Base, 3, 1, "").geometry(16, [48, 96], 4),
                "db_defocus_dual_pixel_grl_base" => {
                    let mut config = sized(Size::Base, 6, 1, "").geometry(16, [48, 96], 4);
                    config.out_channels = Some(3);
                    config
                }
                _ => return Err(unknown()),
            }
        };
        config.validate().map(|()| config)
    }

    /// Sets window size, stripe size and anchor down factor.
    fn geometry(mut self, window_size: usize, stripe_size: [usize; 2], df: usize) -> Self {
        self.window_size = window_size;
        self.stripe_size = [Some(stripe_size[0]), Some(stripe_size[1])];
        self.anchor_window_down_factor = df;
        self
    }
}

/// Splits `tiny...`, `small...` or `base...` into the size and the rest.
fn split_size(rest: &str) -> Option<(Size, &str)> {
    [("tiny", Size::Tiny), ("small", Size::Small), ("base", Size::Base)]
        .into_iter()
        .find_map(|(prefix, size)| rest.strip_prefix(prefix).map(|r| (size, r)))
}

/// The shared settings of a size family (GRL-T, GRL-S, GRL-B) for a task.
fn sized(size: Size, in_channels: usize, upscale: usize, upsampler: &str) -> GrlConfig {
    let (embed_dim, depths, heads, local_connection) = match size {
        Size::Tiny => (64, vec![4, 4, 4, 4], 2, false),
        Size::Small => (128, vec![4, 4, 4, 4], 2, false),
        Size::Base => (180, vec![4, 4, 8, 8, 8, 4, 4], 3, true),
    };
    let stages = depths.len();
    GrlConfig {
        in_channels,
        out_channels: None,
        embed_dim,
        upscale,
        img_range: 1.0,
        upsampler: upsampler.into(),
        depths,
        num_heads_window: vec![heads; stages],
        num_heads_stripe: vec![heads; stages],
        stripe_groups: [None, None],
        stripe_shift: true,
        mlp_ratio: 2.0,
        qkv_bias: true,
        local_connection,
        ..GrlConfig::default()
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn model_kwargs_parse_with_defaults_and_unknown_keys() {
        let json = r#"{"in_channels": 3, "embed_dim": 32, "upscale": 2, "upsampler": "pixelshuffle",
            "depths": [4, 4], "num_heads_window": [2, 2], "num_heads_stripe": [2, 2], "window_size": 8,
            "stripe_size": [8, 16], "stripe_groups": [null, null], "stripe_shift": true, "mlp_ratio": 2,
            "anchor_window_down_factor": 2, "img_size": 64, "drop_path_rate": 0.1, "use_buffer": true}"#;
        let config: GrlConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.stripe_size, [Some(8), Some(16)]);
        assert_eq!(config.mlp_ratio, 2.0);
        assert_eq!(config.out_channels(), 3);
        assert_eq!(config.qkv_proj_type, "linear"); // default
        assert_eq!(config.pad_size(), 16);
        config.validate().unwrap();
    }

    #[test]
    fn pad_size_counts_groups_times_df() {
        let config = GrlConfig {
            window_size: 8,
            stripe_size: [Some(8), None],
            stripe_groups: [None, Some(4)],
            anchor_window_down_factor: 4,
            ..GrlConfig::default()
        };
        assert_eq!(config.pad_size(), 16);
    }

    #[test]
    fn mlp_hidden_dim_truncates() {
        let config = GrlConfig { embed_dim: 60, mlp_ratio: 2.5, ..GrlConfig::default() };
        assert_eq!(config.mlp_hidden_dim(), 150);
        let config = GrlConfig { embed_dim: 30, mlp_ratio: 1.7, ..GrlConfig::default() };
        assert_eq!(config.mlp_hidden_dim(), 51);
    }

    #[test]
    fn validation_names_values() {
        let config = GrlConfig {
            embed_dim: 30,
            num_heads_window: vec![4; 6],
            upsampler: "bicubic".into(),
            ..GrlConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert!(err.contains("embed_dim 30 is not divisible by 2 * num_heads_window = 8"), "{err}");
        assert!(err.contains("upsampler \"bicubic\""), "{err}");

        let config = GrlConfig { upsampler: "pixelshuffle".into(), upscale: 5, ..GrlConfig::default() };
        let err = config.validate().unwrap_err();
        assert!(err.contains("upscale 5 is not supported by upsampler \"pixelshuffle\""), "{err}");

        let config = GrlConfig { qkv_proj_type: "separable_conv".into(), ..GrlConfig::default() };
        assert!(config.validate().unwrap_err().contains("qkv_proj_type \"separable_conv\""));
    }

    #[test]
    fn every_preset_is_valid_and_pad_sizes_match_the_table() {
        for name in preset_names() {
            GrlConfig::preset(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let pad = |name: &str| GrlConfig::preset(name).unwrap().pad_size();
        assert_eq!(pad("sr_grl_tiny_c3x4"), 64);
        assert_eq!(pad("dn_grl_base_c3s25"), 128);
        assert_eq!(pad("jpeg_grl_small_c1q10"), 144);
        assert_eq!(pad("dm_grl_small"), 32);
        assert_eq!(pad("db_motion_grl_base_gopro"), 96);
        assert!(GrlConfig::preset("sr_grl_huge_c3x4").is_err());
    }

    #[test]
    fn preset_values() {
        let b = GrlConfig::preset("sr_grl_base_c3x2").unwrap();
        assert_eq!((b.embed_dim, b.depths.len(), b.anchor_window_down_factor), (180, 7, 2));
        assert!(b.local_connection);
        assert_eq!(b.upsampler, "pixelshuffle");
        let t = GrlConfig::preset("sr_grl_tiny_c3x3").unwrap();
        assert_eq!((t.embed_dim, t.upscale, t.upsampler.as_str()), (64, 3, "pixelshuffledirect"));
        let dn = GrlConfig::preset("dn_grl_small_c1s50").unwrap();
        assert_eq!((dn.in_channels, dn.window_size, dn.stripe_size), (1, 16, [Some(64), Some(128)]));
        let dual = GrlConfig::preset("db_defocus_dual_pixel_grl_base").unwrap();
        assert_eq!((dual.in_channels, dual.out_channels()), (6, 3));
    }
}
