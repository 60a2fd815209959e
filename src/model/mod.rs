//! GRL (Li et al., CVPR 2023): image restoration with global, regional and local modelling,
//! as Burn modules.
//!
//! [`GrlConfig`] holds the hyper-parameters under the reference implementation's argument
//! names (typed in [`settings`]; the released checkpoints in [`presets`]);
//! [`GrlConfig::init`] builds a [`Grl`];
//! [`Grl::forward`] restores an image batch. The relative-position tables, indices and shift
//! masks are computed from the padded input size ([`TableIndexMask`]); callers that run many
//! inputs of one size build them once with [`Grl::tables`] and call
//! [`Grl::forward_with_tables`]. Weights load from the reference state dict
//! ([`Grl::load_pytorch`] natively, [`Grl::load_safetensors_bytes`] everywhere).
//!
//! Module tree (field names follow the reference state-dict keys):
//!
//! ```text
//! Grl                     conv_first, norm_start, layers.i, norm_end, conv_after_body, tail
//! └─ TransformerStage     layers.i: blocks.j, conv
//!    └─ Block             attn, norm1, conv (CAB, optional), mlp, norm2
//!       └─ MixedAttention qkv.body, anchor.body.0.reduction, window_attn, stripe_attn, proj
//!          ├─ WindowAttention        attn_transform (logit_scale, cpb_mlp)
//!          └─ AnchorStripeAttention  attn_transform1, attn_transform2
//! ```

pub mod affine_transform;
#[doc(hidden)]
pub mod attention_fixture;
#[cfg(not(target_arch = "wasm32"))]
mod autodiff_flex;
#[cfg(not(target_arch = "wasm32"))]
mod autodiff_gelu;
#[cfg(not(target_arch = "wasm32"))]
mod autodiff_matmul;
#[cfg(not(target_arch = "wasm32"))]
mod autodiff_softmax;
pub mod block;
pub mod bounds;
pub mod cab;
mod chunks;
pub mod config;
pub mod conv;
pub mod cpu_attention;
pub mod cpu_conv;
pub mod cpu_gelu;
mod cpu_gemm;
pub mod cpu_linear;
mod cpu_mixed_attention;
mod cpu_parallel;
mod cpu_pool;
mod cpu_shuffle;
mod cpu_simd;
mod cpu_softmax;
mod cpu_values;
pub mod cpu_windows;
pub mod flops;
pub mod gpu_attention;
mod gpu_attention_call;
mod gpu_mixed_attention;
pub mod grl;
pub mod intermediates;
pub mod kernels;
pub mod load;
pub mod memory;
pub mod mixed_attention;
pub mod mlp;
pub mod presets;
pub mod projection;
pub mod settings;
pub mod shapes;
pub mod stage;
pub mod stripe_attention;
pub mod tables;
pub mod tail;
pub mod upsample;
pub mod window_attention;

pub use config::GrlConfig;
pub use presets::{Task, preset_names};
pub use settings::Upsampler;
pub use grl::Grl;
pub use intermediates::{Intermediate, Intermediates};
pub use load::LoadReport;
pub use tables::TableIndexMask;
