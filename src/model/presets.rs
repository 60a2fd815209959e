//! The released checkpoints (release v1.0.0 of the reference repository) as one table, from
//! which their names, configurations and provenance (task, noise level or JPEG quality,
//! licence) come.
//!
//! Values follow the model table of the GRL documentation and the reference repository's
//! `config/experiment` files. Names follow one grammar, `{task}_grl_{size}_c{channels}...`,
//! whose level marker (`s25`: noise sigma 25, `q10`: JPEG quality 10) [`Release::of_name`]
//! also reads in names outside the table.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::config::GrlConfig;
use super::settings::Upsampler;

/// The licence of the released weights.
pub const LICENSE: &str = "MIT (GRL reference release, Yawei Li 2023)";

/// What a model restores; the first word(s) of a released checkpoint's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// `sr`: bicubic super-resolution.
    Sr,
    /// `dn`: Gaussian denoising.
    Dn,
    /// `jpeg`: JPEG artifact removal.
    Jpeg,
    /// `dm`: demosaicking.
    Dm,
    /// `bsr`: real-world (blind) super-resolution.
    Bsr,
    /// `db_motion`: motion deblurring.
    DbMotion,
    /// `db_defocus`: defocus deblurring.
    DbDefocus,
    /// `unknown`: a name that starts with no task.
    #[default]
    Unknown,
}

impl Task {
    /// Every task with a name prefix.
    const NAMED: [Task; 7] = [Task::Sr, Task::Dn, Task::Jpeg, Task::Dm, Task::Bsr, Task::DbMotion, Task::DbDefocus];

    /// The spelling in names, metadata and `info.task`.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Sr => "sr",
            Task::Dn => "dn",
            Task::Jpeg => "jpeg",
            Task::Dm => "dm",
            Task::Bsr => "bsr",
            Task::DbMotion => "db_motion",
            Task::DbDefocus => "db_defocus",
            Task::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a checkpoint's name tells about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Release {
    pub task: Task,
    /// Noise level (sigma on the 0-255 scale) of a denoiser; 0 for other tasks.
    pub noise_level: u32,
    /// JPEG quality of a JPEG artifact remover; 0 otherwise.
    pub jpeg_quality: u32,
}

impl Release {
    /// Reads a name of the release grammar, in the table or not (`dn_test_c3s25`: denoising
    /// at sigma 25): the task from the prefix `{task}_`, the level from the number after the
    /// task's marker (`s` for `dn`, `q` for `jpeg`) in the last `_` part; 0 where absent.
    pub fn of_name(name: &str) -> Release {
        let task =
            Task::NAMED.into_iter().find(|t| name.starts_with(&format!("{t}_"))).unwrap_or(Task::Unknown);
        let level = |marker: char| {
            let tail = name.rsplit('_').next().unwrap_or("");
            tail.rsplit_once(marker).and_then(|(_, n)| n.parse().ok()).unwrap_or(0)
        };
        Release {
            task,
            noise_level: if task == Task::Dn { level('s') } else { 0 },
            jpeg_quality: if task == Task::Jpeg { level('q') } else { 0 },
        }
    }
}

/// A released checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// The file name without extension, e.g. `dn_grl_small_c3s25`.
    pub name: String,
    pub release: Release,
    pub config: GrlConfig,
}

/// The size families: GRL-T, GRL-S, GRL-B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelSize {
    Tiny,
    Small,
    Base,
}

impl fmt::Display for ModelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelSize::Tiny => "tiny",
            ModelSize::Small => "small",
            ModelSize::Base => "base",
        })
    }
}

/// Every released checkpoint, in a stable order (`grl presets` lists them so).
///
/// `db_defocus_dual_pixel_grl_base` (6 input channels: left and right views, 3 output
/// channels) reuses the single-pixel defocus geometry (window 16, stripe [48, 96], df 4); the
/// reference publishes no configuration for it, so this one is an assumption.
pub fn presets() -> Vec<Preset> {
    use ModelSize::{Base, Small, Tiny};
    use Upsampler::{NearestConv, PixelShuffle, PixelShuffleDirect, Residual};
    let mut all = Vec::new();
    let mut add = |name: String, task: Task, level: u32, config: GrlConfig| {
        let release = Release {
            task,
            noise_level: if task == Task::Dn { level } else { 0 },
            jpeg_quality: if task == Task::Jpeg { level } else { 0 },
        };
        all.push(Preset { name, release, config });
    };
    for size in [Tiny, Small, Base] {
        let df = if size == Base { 2 } else { 4 };
        let upsampler = if size == Tiny { PixelShuffleDirect } else { PixelShuffle };
        for scale in [2, 3, 4] {
            let config = family(size, 3, scale, upsampler).geometry(32, [64, 64], df);
            add(format!("sr_grl_{size}_c3x{scale}"), Task::Sr, 0, config);
        }
    }
    for size in [Tiny, Small, Base] {
        let (ws, df) = if size == Base { (32, 2) } else { (16, 4) };
        for channels in [1, 3] {
            for sigma in [15, 25, 50] {
                let config = family(size, channels, 1, Residual).geometry(ws, [64, 128], df);
                add(format!("dn_grl_{size}_c{channels}s{sigma}"), Task::Dn, sigma, config);
            }
        }
    }
    for channels in [1, 3] {
        for quality in [10, 20, 30, 40] {
            let config = family(Small, channels, 1, Residual).geometry(36, [72, 144], 4);
            add(format!("jpeg_grl_small_c{channels}q{quality}"), Task::Jpeg, quality, config);
        }
    }
    add("dm_grl_small".into(), Task::Dm, 0, family(Small, 3, 1, Residual).geometry(8, [32, 32], 4));
    add("bsr_grl_base".into(), Task::Bsr, 0, family(Base, 3, 4, NearestConv).geometry(16, [32, 64], 4));
    for dataset in ["gopro", "realblur_j", "realblur_r"] {
        let config = family(Base, 3, 1, Residual).geometry(12, [48, 96], 4);
        add(format!("db_motion_grl_base_{dataset}"), Task::DbMotion, 0, config);
    }
    let defocus = |in_channels| family(Base, in_channels, 1, Residual).geometry(16, [48, 96], 4);
    add("db_defocus_single_pixel_grl_base".into(), Task::DbDefocus, 0, defocus(3));
    let dual = GrlConfig { out_channels: Some(3), ..defocus(6) };
    add("db_defocus_dual_pixel_grl_base".into(), Task::DbDefocus, 0, dual);
    all
}

/// Every name [`GrlConfig::preset`] accepts, in the order of [`presets`].
pub fn preset_names() -> Vec<String> {
    presets().into_iter().map(|p| p.name).collect()
}

impl GrlConfig {
    /// The configuration of a released checkpoint, by its file name without extension (see
    /// [`preset_names`]).
    pub fn preset(name: &str) -> Result<GrlConfig, String> {
        let config = presets().into_iter().find(|p| p.name == name).map(|p| p.config).ok_or_else(|| {
            format!("unknown preset {name:?}: expected one of {}", preset_names().join(", "))
        })?;
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

/// The shared settings of a size family (GRL-T, GRL-S, GRL-B) for a task.
fn family(size: ModelSize, in_channels: usize, upscale: usize, upsampler: Upsampler) -> GrlConfig {
    let (embed_dim, depths, heads, local_connection) = match size {
        ModelSize::Tiny => (64, vec![4, 4, 4, 4], 2, false),
        ModelSize::Small => (128, vec![4, 4, 4, 4], 2, false),
        ModelSize::Base => (180, vec![4, 4, 8, 8, 8, 4, 4], 3, true),
    };
    let stages = depths.len();
    GrlConfig {
        in_channels,
        out_channels: None,
        embed_dim,
        upscale,
        img_range: 1.0,
        upsampler,
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
        assert_eq!(b.upsampler, Upsampler::PixelShuffle);
        let t = GrlConfig::preset("sr_grl_tiny_c3x3").unwrap();
        assert_eq!((t.embed_dim, t.upscale, t.upsampler), (64, 3, Upsampler::PixelShuffleDirect));
        let dn = GrlConfig::preset("dn_grl_small_c1s50").unwrap();
        assert_eq!((dn.in_channels, dn.window_size, dn.stripe_size), (1, 16, [Some(64), Some(128)]));
        let dual = GrlConfig::preset("db_defocus_dual_pixel_grl_base").unwrap();
        assert_eq!((dual.in_channels, dual.out_channels()), (6, 3));
    }

    #[test]
    fn names_keep_the_release_list() {
        let names = preset_names();
        assert_eq!(names.len(), 42);
        assert_eq!(names[..3], ["sr_grl_tiny_c3x2", "sr_grl_tiny_c3x3", "sr_grl_tiny_c3x4"]);
        assert_eq!(names[9..12], ["dn_grl_tiny_c1s15", "dn_grl_tiny_c1s25", "dn_grl_tiny_c1s50"]);
        assert_eq!(names[27], "jpeg_grl_small_c1q10");
        assert_eq!(names[35..], [
            "dm_grl_small",
            "bsr_grl_base",
            "db_motion_grl_base_gopro",
            "db_motion_grl_base_realblur_j",
            "db_motion_grl_base_realblur_r",
            "db_defocus_single_pixel_grl_base",
            "db_defocus_dual_pixel_grl_base",
        ]);
    }

    #[test]
    fn every_name_reads_back_as_its_release() {
        for preset in presets() {
            assert_eq!(Release::of_name(&preset.name), preset.release, "{}", preset.name);
        }
        let dn = Release::of_name("dn_grl_small_c3s25");
        assert_eq!((dn.task, dn.noise_level, dn.jpeg_quality), (Task::Dn, 25, 0));
        let jpeg = Release::of_name("jpeg_grl_small_c1q10");
        assert_eq!((jpeg.task, jpeg.noise_level, jpeg.jpeg_quality), (Task::Jpeg, 0, 10));
        assert_eq!(Release::of_name("dn_test_c3s25").noise_level, 25);
        assert_eq!(Release::of_name("sr2_ps").task, Task::Unknown);
    }

    #[test]
    fn tasks_keep_their_spelling() {
        for task in Task::NAMED.into_iter().chain([Task::Unknown]) {
            let json = format!("\"{task}\"");
            assert_eq!(serde_json::to_string(&task).unwrap(), json);
            assert_eq!(serde_json::from_str::<Task>(&json).unwrap(), task);
        }
        assert_eq!(Task::DbMotion.as_str(), "db_motion");
    }
}
