//! [`GrlConfig`]: the network's hyper-parameters under the reference implementation's
//! constructor argument names, and their validation. The string arguments are typed
//! ([`super::settings`]); the released checkpoints are in [`super::presets`].

use serde::{Deserialize, Serialize};

use crate::Size;

use super::settings::{AnchorPooling, ConvType, InitMethod, OutProjType, QkvProjType, Upsampler};

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
    pub upsampler: Upsampler,
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
    pub qkv_proj_type: QkvProjType,
    /// Anchor projection: `avgpool` (released models) or `maxpool`. Default: "avgpool".
    pub anchor_proj_type: AnchorPooling,
    /// Whether anchors come from one pooling step: only `true` is supported. Default: true.
    pub anchor_one_stage: bool,
    /// Downscaling factor df from the feature map to the anchors. Default: 1.
    pub anchor_window_down_factor: usize,
    /// Output projection type. The reference's efficient block always builds a linear
    /// projection whatever this says; `linear` and `conv2d` are accepted. Default: "linear".
    pub out_proj_type: OutProjType,
    /// Whether each block adds a channel-attention convolution branch (CAB, GRL-B).
    /// Default: false.
    pub local_connection: bool,
    /// Convolution closing each stage and the body: only `1conv` (3x3) is supported.
    /// Default: "1conv".
    pub conv_type: ConvType,
    /// Weight initialisation of the reference. Only `r` changes inference: it scales every
    /// residual branch by 0.1; any other string is kept as written. Default: "n".
    pub init_method: InitMethod,
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
            upsampler: Upsampler::Residual,
            depths: vec![6; 6],
            num_heads_window: vec![3; 6],
            num_heads_stripe: vec![3; 6],
            window_size: 8,
            stripe_size: [Some(8), Some(8)],
            stripe_groups: [None, None],
            stripe_shift: false,
            mlp_ratio: 4.0,
            qkv_bias: true,
            qkv_proj_type: QkvProjType::Linear,
            anchor_proj_type: AnchorPooling::Avg,
            anchor_one_stage: true,
            anchor_window_down_factor: 1,
            out_proj_type: OutProjType::Linear,
            local_connection: false,
            conv_type: ConvType::OneConv,
            init_method: InitMethod::default(),
            euclidean_dist: false,
            pretrained_window_size: [0, 0],
            pretrained_stripe_size: [0, 0],
        }
    }
}

impl burn::config::Config for GrlConfig {}

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

    /// The size the body works on for an input of `size`: each side rounded up to the pad size.
    pub fn padded_size(&self, size: Size) -> Size {
        size.next_multiple_of(self.pad_size())
    }

    /// Whether `other` has this body (all but the scale of the upsampler): its weights from
    /// the first convolution to the long skip fit this model ([`super::Grl::with_tail_of`]).
    pub fn same_body(&self, other: &GrlConfig) -> bool {
        *self == GrlConfig { upscale: self.upscale, ..other.clone() }
    }

    /// Whether this body is `other`'s with stages appended: the same settings, and
    /// `depths` and both head counts longer than `other`'s and starting with them. `other`'s
    /// weights then fit this model's first stages ([`super::Grl::with_stages_of`]).
    pub fn extends_body(&self, other: &GrlConfig) -> bool {
        let n = other.depths.len();
        let first = |stages: &[usize]| stages[..n.min(stages.len())].to_vec();
        let prefix = GrlConfig {
            depths: first(&self.depths),
            num_heads_window: first(&self.num_heads_window),
            num_heads_stripe: first(&self.num_heads_stripe),
            ..self.clone()
        };
        self.depths.len() > n && prefix == *other
    }

    /// Hidden width of every block's MLP: `int(embed_dim * mlp_ratio)`.
    pub fn mlp_hidden_dim(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }

    /// Per-channel mean subtracted from the input (length `in_channels`).
    pub fn mean(&self) -> Vec<f32> {
        if self.in_channels == 3 { RGB_MEAN.to_vec() } else { vec![0.0; self.in_channels] }
    }

    /// Checks that the configuration can be built and run; the error lists every problem,
    /// each naming the value and what was expected. Sizes past their bounds
    /// ([`super::bounds`]) are reported alone, before anything computes with them.
    pub fn validate(&self) -> Result<(), String> {
        let out_of_bounds = super::bounds::out_of_bounds(self);
        if !out_of_bounds.is_empty() {
            return Err(out_of_bounds.join("; "));
        }
        let mut errors = Vec::new();
        self.validate_io(&mut errors);
        self.validate_body(&mut errors);
        self.validate_geometry(&mut errors);
        self.validate_switches(&mut errors);
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
        match self.upsampler {
            Upsampler::PixelShuffle if !(scale == 3 || (scale >= 2 && scale.is_power_of_two())) => errors
                .push(format!("upscale {scale} is not supported by upsampler \"pixelshuffle\": expected 2^n or 3")),
            Upsampler::PixelShuffleDirect if scale == 0 => {
                errors.push("upscale 0 is not supported by upsampler \"pixelshuffledirect\"".into())
            }
            Upsampler::NearestConv if scale != 4 => {
                errors.push(format!("upscale {scale} is not supported by upsampler \"nearest+conv\": expected 4"))
            }
            Upsampler::Residual if scale != 1 => {
                errors.push(format!("upscale {scale} is not supported by upsampler \"\" (no upsampling): expected 1"))
            }
            _ => {}
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

    /// The boolean switches the reference has and this implementation does not run (the
    /// unsupported string values already fail when the configuration is parsed).
    fn validate_switches(&self, errors: &mut Vec<String>) {
        if !self.anchor_one_stage {
            errors.push("anchor_one_stage false is not supported: expected true".into());
        }
        if self.euclidean_dist {
            errors.push("euclidean_dist true is not supported: expected false (cosine attention)".into());
        }
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
        assert_eq!(config.qkv_proj_type, QkvProjType::Linear); // default
        assert_eq!(config.pad_size(), 16);
        config.validate().unwrap();
    }

    #[test]
    fn a_saved_configuration_serializes_back_to_the_same_json() {
        // The `config` metadata of models/denoise.safetensors, as written before the settings
        // were typed.
        let json = r#"{"in_channels":3,"out_channels":null,"embed_dim":32,"upscale":1,"img_range":1.0,"upsampler":"","depths":[2,2],"num_heads_window":[2,2],"num_heads_stripe":[2,2],"window_size":8,"stripe_size":[16,16],"stripe_groups":[null,null],"stripe_shift":true,"mlp_ratio":2.0,"qkv_bias":true,"qkv_proj_type":"linear","anchor_proj_type":"avgpool","anchor_one_stage":true,"anchor_window_down_factor":2,"out_proj_type":"linear","local_connection":false,"conv_type":"1conv","init_method":"n","euclidean_dist":false,"pretrained_window_size":[0,0],"pretrained_stripe_size":[0,0]}"#;
        let config: GrlConfig = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&config).unwrap(), json);
        let json = json.replace(r#""init_method":"n""#, r#""init_method":"fan_in""#);
        assert_eq!(serde_json::to_string(&serde_json::from_str::<GrlConfig>(&json).unwrap()).unwrap(), json);
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
        let config = GrlConfig { embed_dim: 30, num_heads_window: vec![4; 6], ..GrlConfig::default() };
        let err = config.validate().unwrap_err();
        assert!(err.contains("embed_dim 30 is not divisible by 2 * num_heads_window = 8"), "{err}");

        let config = GrlConfig { upsampler: Upsampler::PixelShuffle, upscale: 5, ..GrlConfig::default() };
        let err = config.validate().unwrap_err();
        assert!(err.contains("upscale 5 is not supported by upsampler \"pixelshuffle\""), "{err}");

        // Unknown and unsupported string values fail when parsed, naming the value and the
        // accepted ones.
        let parse = |json: &str| serde_json::from_str::<GrlConfig>(json).unwrap_err().to_string();
        let err = parse(r#"{"embed_dim": 30, "upsampler": "bicubic"}"#);
        assert!(err.contains("unknown variant `bicubic`, expected one of `pixelshuffle`"), "{err}");
        let err = parse(r#"{"qkv_proj_type": "separable_conv"}"#);
        assert!(err.contains("unknown variant `separable_conv`, expected `linear`"), "{err}");
        let err = parse(r#"{"conv_type": "3conv"}"#);
        assert!(err.contains("unknown variant `3conv`, expected `1conv`"), "{err}");
    }
}
