//! The typed settings of [`GrlConfig`](super::GrlConfig): each string argument of the
//! reference constructor as an enum that (de)serializes with the reference's spelling, so a
//! configuration is parsed once and an unknown value fails at parse time with the accepted
//! values named (serde's "unknown variant `x`, expected one of ...").
//!
//! Values the reference has but this implementation does not run (`qkv_proj_type`
//! `separable_conv`, `conv_type` `3conv`, ...) are not variants: they fail at parse time too.

use serde::{Deserialize, Serialize};

/// The reconstruction tail (`upsampler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Upsampler {
    /// `pixelshuffle`: conv + LeakyReLU, then `log2(scale)` x [conv, PixelShuffle(2)] (or one
    /// PixelShuffle(3)), then a last conv. Classical SR, GRL-S and GRL-B.
    #[serde(rename = "pixelshuffle")]
    PixelShuffle,
    /// `pixelshuffledirect`: one conv to `scale^2 * out` channels and PixelShuffle(scale).
    /// Lightweight SR, GRL-T.
    #[serde(rename = "pixelshuffledirect")]
    PixelShuffleDirect,
    /// `nearest+conv`: two nearest-neighbour x2 steps with convs. Real-world SR, x4 only.
    #[serde(rename = "nearest+conv")]
    NearestConv,
    /// `""`: no upsampling: a last conv, plus the input when in and out channels match.
    #[default]
    #[serde(rename = "")]
    Residual,
}

/// Spatial pooling that turns the feature map into anchors (`anchor_proj_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AnchorPooling {
    /// `avgpool`: average pooling with kernel and stride df (all released models).
    #[default]
    #[serde(rename = "avgpool")]
    Avg,
    /// `maxpool`: max pooling with kernel and stride df.
    #[serde(rename = "maxpool")]
    Max,
}

/// The QKV projection (`qkv_proj_type`): only `linear` is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QkvProjType {
    /// `linear`.
    #[default]
    Linear,
}

/// The output projection (`out_proj_type`). The reference's efficient block always builds a
/// linear projection whatever this says, so both values build the same model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutProjType {
    /// `linear`.
    #[default]
    Linear,
    /// `conv2d` (built as linear, like the reference).
    Conv2d,
}

/// The convolution closing each stage and the body (`conv_type`): only `1conv` (3x3) is
/// supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ConvType {
    /// `1conv`: one 3x3 convolution.
    #[default]
    #[serde(rename = "1conv")]
    OneConv,
}

/// The reference's weight initialisation (`init_method`). Only `r` changes inference; every
/// other value (`n`, `w`, `l`, `fan_in`, ...) is accepted and kept as written, so a
/// configuration serializes back to the same JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum InitMethod {
    /// `r`: every residual branch is scaled by 0.1.
    ScaledResiduals,
    /// Any other value: the initialisation only, no effect on inference.
    Other(String),
}

impl Default for InitMethod {
    /// `n`, the reference's default.
    fn default() -> Self {
        InitMethod::Other("n".into())
    }
}

impl From<String> for InitMethod {
    fn from(value: String) -> Self {
        if value == "r" { InitMethod::ScaledResiduals } else { InitMethod::Other(value) }
    }
}

impl From<InitMethod> for String {
    fn from(value: InitMethod) -> Self {
        match value {
            InitMethod::ScaledResiduals => "r".into(),
            InitMethod::Other(value) => value,
        }
    }
}

impl InitMethod {
    /// Scale applied to every residual branch: 0.1 for `r`, else 1.
    pub fn res_scale(&self) -> f64 {
        match self {
            InitMethod::ScaledResiduals => 0.1,
            InitMethod::Other(_) => 1.0,
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(json: &str, value: T) {
        assert_eq!(serde_json::from_str::<T>(json).unwrap(), value, "{json}");
        assert_eq!(serde_json::to_string(&value).unwrap(), json);
    }

    #[test]
    fn settings_keep_the_reference_spelling() {
        round_trip(r#""pixelshuffle""#, Upsampler::PixelShuffle);
        round_trip(r#""pixelshuffledirect""#, Upsampler::PixelShuffleDirect);
        round_trip(r#""nearest+conv""#, Upsampler::NearestConv);
        round_trip(r#""""#, Upsampler::Residual);
        round_trip(r#""avgpool""#, AnchorPooling::Avg);
        round_trip(r#""maxpool""#, AnchorPooling::Max);
        round_trip(r#""linear""#, QkvProjType::Linear);
        round_trip(r#""linear""#, OutProjType::Linear);
        round_trip(r#""conv2d""#, OutProjType::Conv2d);
        round_trip(r#""1conv""#, ConvType::OneConv);
        round_trip(r#""r""#, InitMethod::ScaledResiduals);
        for other in ["n", "w", "l", "fan_in", ""] {
            round_trip(&format!("{other:?}"), InitMethod::Other(other.into()));
        }
    }

    #[test]
    fn unknown_values_name_the_accepted_ones() {
        let err = serde_json::from_str::<Upsampler>(r#""bicubic""#).unwrap_err().to_string();
        assert!(err.contains("unknown variant `bicubic`") && err.contains("`nearest+conv`"), "{err}");
        let err = serde_json::from_str::<QkvProjType>(r#""separable_conv""#).unwrap_err().to_string();
        assert!(err.contains("`separable_conv`") && err.contains("`linear`"), "{err}");
    }

    #[test]
    fn only_r_scales_residuals() {
        assert_eq!(InitMethod::ScaledResiduals.res_scale(), 0.1);
        assert_eq!(InitMethod::default().res_scale(), 1.0);
        assert_eq!(InitMethod::from("fan_in".to_string()).res_scale(), 1.0);
    }
}
